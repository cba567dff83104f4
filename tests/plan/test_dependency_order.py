from __future__ import annotations

import random

from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.plan.diff import dependency_order
from tests.conftest import REPO


def test_objects_come_after_what_they_read_whatever_the_input_order():
    desired = compile_project(load_project(REPO))
    deps = {o.qualified_name: set(o.depends_on) for o in desired}
    assert deps["ANALYTICS.CUSTOMER_SEGMENTS"] == {"ANALYTICS.CUSTOMER_METRICS"}
    # the whole example: the metrics read the ticket sentiment scores, so their table comes first
    assert deps["ANALYTICS.CUSTOMER_METRICS"] == {"GOLD.CUSTOMER", "GOLD.PRODUCTS", "SUPPORT.TICKETS", "AI.SUPPORT_TICKETS_SENTIMENT"}
    assert deps["AI.REFRESH_ACCOUNT_SUMMARY"] == {"ANALYTICS.CUSTOMER_SEGMENTS", "AI.ACCOUNT_INSIGHTS"}
    assert deps["AI.REFRESH_CUSTOMER_EMBEDDINGS"] == {"ANALYTICS.CUSTOMER_SEGMENTS", "AI.ACCOUNT_INSIGHTS", "AI.CUSTOMER_EMBEDDINGS"}
    for seed in range(5):
        shuffled = desired[:]
        random.Random(seed).shuffle(shuffled)
        order = [o.qualified_name for o in dependency_order(shuffled)]
        for obj in desired:
            for dependency in list(obj.depends_on) + ([obj.schema] if obj.kind != "schema" else []):
                if dependency in order:
                    assert order.index(dependency) < order.index(obj.qualified_name), (dependency, obj.qualified_name)
