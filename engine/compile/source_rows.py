"""A source's rows as every reader sees them: its table, plus the columns its `join:` lookups add,
with its customer key under the entity key's name (config/source_keys.py says which is which).

Metrics, the orphan counts of load and plan, explain and the sentiment scores all read a source
through `source_relation`, so a source at its own grain (`grain: [ticket_id]`, `customer_key:
account_id`) or with lookups joined is aggregated and checked exactly like one keyed by the entity
key. A source that needs none of this is read as its bare table (the SQL of such projects is
unchanged).

    (SELECT orders.order_id, …, rates.eur_per_unit, orders.account_id AS customer_id
     FROM SHOP.ORDERS AS orders LEFT JOIN REF.RATES AS rates ON orders.currency = rates.currency) AS orders

The join is a LEFT JOIN on the target's one-column unique key, so it never drops nor repeats a row
of the source (the key's uniqueness is checked at load and in plan: plan/source_check.py).
"""

from __future__ import annotations

from sqlglot import exp

from engine.compile.objects import table
from engine.config.models import Project
from engine.config.source_keys import customer_column, entity_key_column, needs_relation, unique_key


def source_relation(project: Project, name: str) -> exp.Expression:
    """What a query reads FROM for source `name`: its table, or a subquery aliased `name`."""
    source = project.sources[name]
    if not needs_relation(project, name):
        return table(source.table)
    select = exp.select(*(exp.column(column.lower(), table=name) for column in source.columns))
    select.from_(exp.alias_(table(source.table), name, table=True), copy=False)
    owners = {column.lower(): name for column in source.columns}  # column → alias of the table that gives it
    for target_name, column in source.join.items():
        target = project.sources[target_name]
        key = unique_key(target) or ""
        added = [c.lower() for c in target.columns if c != key]
        select.select(*(exp.column(c, table=target_name) for c in added), copy=False)
        # the join column is the source's own, or one an earlier join added (lines → orders → rates)
        on = exp.column(column.lower(), table=owners.get(column.lower(), name)).eq(exp.column(key.lower(), table=target_name))
        select.join(exp.alias_(table(target.table), target_name, table=True), on=on, join_type="left", copy=False)
        owners.update({c: target_name for c in added if c not in owners})
    customer = (customer_column(project, name) or "").lower()
    entity_key = entity_key_column(project)
    if customer and customer != entity_key:
        select.select(exp.alias_(exp.column(customer, table=owners.get(customer, name)), entity_key), copy=False)
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(name)))


def aliased(relation: exp.Expression, alias: str) -> exp.Expression:
    """`relation` under another alias (a table or a subquery), copied."""
    relation = relation.copy()
    if isinstance(relation, exp.Subquery):
        relation.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        return relation
    return exp.alias_(relation, alias, table=True)

