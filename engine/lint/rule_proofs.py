"""Validation's proof that every rule can match some customer: rules proven before come from the
proof cache, plain rules are shown satisfiable by a witness (lint/simple_rules.py), and only what
is left goes to the solver (lint/rule_checks.py, which imports z3: ~25 ms and ~12 MB a command).
A rule TRUE for no customer is an error, never deployed."""

from __future__ import annotations

from engine.config.models import Segmentation
from engine.config.project import Located, LoadedProject
from engine.core.errors import Problem
from engine.core.expressions import parse_expression
from engine.lint.domains import project_domains
from engine.lint.proof_cache import ProofCache, rule_key, signature_digest
from engine.lint.simple_rules import plainly_satisfiable


def unsatisfiable_rules(loaded: LoadedProject, proven: ProofCache | None = None) -> list[Problem]:
    """A validation error per rule that can never be TRUE: deployed, it would silently match nobody
    (`x >= 0.8 AND x < 0.5`). Rules `proven` satisfiable before (same condition, same facts) are not
    proven again."""
    proven = proven if proven is not None else ProofCache(None)
    domains = project_domains(loaded)
    signature = signature_digest(domains)  # hashed once, not with each of 500 rules (~50 KB at 1,000 metrics)
    pending: list[tuple[Located[Segmentation], list[tuple[int, str]]]] = []
    for located in loaded.segmentations:
        rules = []
        for index, rule in enumerate(located.item.rules):
            key = rule_key(signature, rule.when)
            if key in proven:
                continue
            if plainly_satisfiable(domains, parse_expression(rule.when).tree):
                proven.add(key)
                continue
            rules.append((index, key))
        if rules:
            pending.append((located, rules))
    if not pending:
        return []
    from engine.lint.rule_checks import solver_unsatisfiable

    return solver_unsatisfiable(loaded, domains, pending, proven)
