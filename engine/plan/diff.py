"""Desired objects vs deployed state → a Plan. Pure: no SQL is sent from here."""

from __future__ import annotations

import uuid


from engine.backends.base import DeployedObject, DeployedState, ManagedRecord, now_utc
from engine.compile.objects import DesiredObject
from engine.plan.sql_diff import sql_diff
from engine.plan.model import Action, Plan, Step
from engine.plan.prompt_diff import prompt_diff

REPLACEABLE = {"view", "task", "semantic_view"}  # safe to replace in place; tables hold paid-for data


DROP_ORDER = {"task": 0, "semantic_view": 1, "view": 2, "table": 3}


def diff(
    project: str,
    target: str,
    desired: list[DesiredObject],
    deployed: DeployedState,
    adopt: frozenset[str] = frozenset(),
) -> list[Step]:
    """One step per desired object (in dependency order), then drops of managed leftovers."""
    steps = [_step_for(project, obj, deployed, obj.qualified_name.upper() in adopt) for obj in dependency_order(desired)]
    wanted = {(obj.kind, obj.qualified_name.upper()) for obj in desired}
    # readers go before what they read: a task that writes a table is dropped before the table, so a
    # started task never fires against a dropped table (or outlives it when the apply stops there)
    for key, deployed_obj in sorted(deployed.objects.items(), key=lambda item: DROP_ORDER.get(item[0][0], len(DROP_ORDER))):
        if key in wanted or deployed_obj.kind == "schema":
            continue
        if _owned_by(project, deployed_obj, deployed.record(*key)):
            destructive = deployed_obj.kind == "table"
            reason = "no longer in the project" + (" — the table's data would be lost" if destructive else "")
            steps.append(Step(Action.DROP, deployed_obj.kind, deployed_obj.qualified_name, None, reason, destructive))
    for key, record in deployed.records.items():
        schema = record.qualified_name.split(".")[0]
        if key in wanted or key in deployed.objects or record.kind == "schema" or ("schema", schema) not in deployed.objects:
            continue
        # the object is gone but rulectl's record is not (an apply stopped between DROP and forgetting
        # it, or between recording its intent and creating it): drop-if-exists and forget the record
        steps.append(Step(Action.DROP, record.kind, record.qualified_name, None, "left over from an unfinished apply: only rulectl's record remains"))
    return steps


def dependency_order(desired: list[DesiredObject]) -> list[DesiredObject]:
    """Objects after the objects they read (from the table references in their SQL) and after
    their schema; otherwise in compile order. Dependencies outside the project (sources) are ignored."""
    by_name = {obj.qualified_name.upper(): obj for obj in desired}
    ordered: list[DesiredObject] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(obj: DesiredObject) -> None:
        name = obj.qualified_name.upper()
        if name in placed or name in visiting:
            return
        visiting.add(name)
        needs = list(obj.depends_on) + ([obj.schema] if obj.kind != "schema" else [])
        for dependency in needs:
            if dependency.upper() in by_name:
                place(by_name[dependency.upper()])
        visiting.discard(name)
        placed.add(name)
        ordered.append(obj)

    for obj in desired:
        place(obj)
    return ordered


def _owned_by(project: str, obj: DeployedObject, record: ManagedRecord | None) -> bool:
    owner = obj.owner
    return record is not None or (owner is not None and owner[0] == project)


def _step_for(project: str, obj: DesiredObject, deployed: DeployedState, adopt: bool) -> Step:
    current = deployed.get(obj.kind, obj.qualified_name)
    record = deployed.record(obj.kind, obj.qualified_name)
    name, kind, fingerprint = obj.qualified_name, obj.kind, obj.fingerprint
    if obj.kind == "schema":
        return Step(Action.NOOP if current else Action.CREATE, kind, name, fingerprint, "exists" if current else "new schema")
    if current is None:
        if record is not None and record.unfinished:
            return Step(Action.CREATE, kind, name, fingerprint, f"an earlier apply (plan {record.plan_id}) stopped before creating it")
        reason = "was dropped outside rulectl; will be created again" if record else "new"
        return Step(Action.CREATE, kind, name, fingerprint, reason)
    if record is not None and record.unfinished:
        # rulectl recorded its intent before touching the object: whatever the earlier apply did to
        # it (created, tagged, half-altered), it is rulectl's, and no hand edit is assumed
        return _change(obj, current, record, f"an earlier apply (plan {record.plan_id}) stopped before finishing it; apply completes it")
    if not _owned_by(project, current, record):
        if not adopt:
            owner = current.owner
            whose = f"rulectl project `{owner[0]}`" if owner else "nobody rulectl knows (no rulectl tag)"
            return Step(Action.ERROR, kind, name, fingerprint, f"{kind} {name} already exists and is owned by {whose}; rulectl will not overwrite it. Rename the object in rulectl.yml, or pass --adopt {name} to take it over")
        return _change(obj, current, record, "adopted: taken over by --adopt", adopt=True)
    deployed_fingerprint = current.owner[1] if current.owner else None
    edited_by_hand = record is not None and (
        deployed_fingerprint != record.fingerprint
        or (record.definition_hash is not None and record.definition_hash != current.definition_hash)
    )
    if edited_by_hand:
        return _drift(obj, current, record)
    if (record.fingerprint if record else deployed_fingerprint) == fingerprint:
        retyped = _retyped_columns(obj, current)
        if retyped:  # an earlier rulectl altered the fingerprint but not the column: say so again
            return _retype(obj, retyped, adopt=False)
        return Step(Action.NOOP, kind, name, fingerprint, "up to date")
    return _change(obj, current, record, _changed_reason(obj, record))


def _changed_reason(obj: DesiredObject, record: ManagedRecord | None) -> str:
    """A task whose MERGE is what rulectl applied changed in how it runs, not in what it runs: its
    options, or what the backend wraps around the MERGE (see Backend.backend_stamp) — after a
    rulectl upgrade, every task once. Said so, since its SQL diff is empty."""
    if obj.kind == "task" and record is not None and record.applied_sql == obj.canonical_sql:
        return "same MERGE; its schedule, warehouse, state or rulectl's task script differs"
    return "definition changed"


def _drift(obj: DesiredObject, current: DeployedObject, record: ManagedRecord | None) -> Step:
    if obj.kind == "table":
        missing = _missing_columns(obj, current)
        reason = "changed by hand (columns differ from what rulectl applied)"
        return Step(Action.DRIFT, obj.kind, obj.qualified_name, obj.fingerprint, reason + ("; missing columns will be added" if missing else "; rulectl leaves its data alone"), add_columns=missing)
    declared_state = dict(obj.options).get("state")
    if obj.kind == "task" and current.state and declared_state and current.state != declared_state:
        reason = f"task is {current.state} but declared {declared_state} (suspended by hand or by Snowflake after failures); apply replaces and {'resumes' if declared_state == 'started' else 'suspends'} it"
        return Step(Action.DRIFT, obj.kind, obj.qualified_name, obj.fingerprint, reason)
    return Step(Action.DRIFT, obj.kind, obj.qualified_name, obj.fingerprint, "changed by hand since rulectl applied it; apply restores the declared definition", **_diffs(record, obj))


def _change(obj: DesiredObject, current: DeployedObject, record: ManagedRecord | None, reason: str, adopt: bool = False) -> Step:
    if obj.kind in REPLACEABLE:
        return Step(Action.REPLACE, obj.kind, obj.qualified_name, obj.fingerprint, reason, adopt=adopt, **_diffs(record, obj))
    missing = _missing_columns(obj, current)
    extra = [name for name, _ in current.columns if name not in {n for n, _ in obj.columns}]
    retyped = _retyped_columns(obj, current)
    if retyped:  # a recreate: also drops the columns no longer declared
        return _retype(obj, retyped, adopt)
    if extra and adopt:  # a foreign table taken over: rebuilt as declared, its data is not rulectl's
        return Step(Action.REPLACE, obj.kind, obj.qualified_name, obj.fingerprint, f"columns {', '.join(extra)} are not declared: recreating the adopted table drops its data", destructive=True, adopt=adopt)
    if extra:
        # ALTER TABLE … DROP COLUMN: only those columns' values go; every other column and row stays
        # (https://docs.snowflake.com/en/sql-reference/sql/alter-table, https://duckdb.org/docs/sql/statements/alter_table)
        added = f"; add columns {', '.join(n for n, _ in missing)}" if missing else ""
        reason = f"columns {', '.join(extra)} are no longer declared: dropping them deletes their values (every other column and row is kept){added}"
        return Step(Action.ALTER, obj.kind, obj.qualified_name, obj.fingerprint, reason, destructive=True, add_columns=missing, drop_columns=tuple(extra), adopt=adopt)
    return Step(Action.ALTER, obj.kind, obj.qualified_name, obj.fingerprint, reason + (f"; add columns {', '.join(n for n, _ in missing)}" if missing else ""), add_columns=missing, adopt=adopt)


def _retype(obj: DesiredObject, retyped: list[str], adopt: bool) -> Step:
    """A column declared with another kind of type is a recreate, refused without --allow-destructive.
    Snowflake's ALTER COLUMN … SET DATA TYPE only widens a VARCHAR or a NUMBER's precision ("changing
    the data type to a different type … is not supported",
    https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so no retype between kinds
    can happen in place on both targets; and leaving the column as it was stores '0.0' in a column
    declared integer, with a plan that then says nothing."""
    return Step(Action.REPLACE, obj.kind, obj.qualified_name, obj.fingerprint,
                f"{'; '.join(retyped)}: the column's type changes, so the table is recreated and its data dropped", destructive=True, adopt=adopt)


# A column's kind of value, from either engine's spelling of its type (DuckDB's duckdb_columns,
# Snowflake's INFORMATION_SCHEMA as SHOW COLUMNS spelled it, rulectl's declared types). Anything
# else (timestamps, dates, semi-structured) is not compared: the engines spell those differently.
_TYPE_KINDS = (
    ("text", ("VARCHAR", "TEXT", "STRING", "CHAR")),
    ("integer", ("FIXED", "NUMBER", "DECIMAL", "NUMERIC", "INT", "BIGINT", "HUGEINT", "SMALLINT", "TINYINT")),
    ("float", ("REAL", "FLOAT", "DOUBLE")),
    ("boolean", ("BOOLEAN",)),
    ("list", ("ARRAY", "LIST", "JSON")),
)


def _type_kind(type_text: str) -> str | None:
    upper = type_text.upper().strip()
    if upper.endswith("[]"):
        return "list"
    base = upper.split("(")[0].strip()
    if base in ("DECIMAL", "NUMERIC", "NUMBER") and "," in upper and upper.split(",")[1].strip(" )") not in ("0", ""):
        return "decimal"  # NUMBER(12,2) holds fractions; NUMBER / NUMBER(38,0) does not
    return next((kind for kind, names in _TYPE_KINDS if base in names), None)


def _retyped_columns(obj: DesiredObject, current: DeployedObject) -> list[str]:
    """`name (text → integer)` for each declared column whose deployed type is another kind."""
    deployed = {name.lower(): kind for name, kind in current.columns}
    changes = []
    for name, declared in obj.columns:
        have = deployed.get(name.lower())
        old, new = (_type_kind(have) if have else None), _type_kind(declared)
        if old and new and old != new:
            changes.append(f"{name.lower()} ({old} → {new})")
    return changes


def _missing_columns(obj: DesiredObject, current: DeployedObject) -> tuple[tuple[str, str], ...]:
    have = {name.lower() for name, _ in current.columns}
    return tuple((name, kind) for name, kind in obj.columns if name.lower() not in have)


def _diffs(record: ManagedRecord | None, obj: DesiredObject) -> dict[str, str | None]:
    """A changed prompt task is shown as its prompt's diff (model, options, texts); the SQL diff of
    its MERGE says the same less readably and costs ~0.15 s per task to pretty-print, which made a
    plan of 200 changed prompts take 30 s. Other objects get the SQL diff."""
    prompt = _prompt_diff(record, obj)
    return {"prompt_diff": prompt, "sql_diff": None if prompt else _sql_diff(record, obj)}


def _prompt_diff(record: ManagedRecord | None, obj: DesiredObject) -> str | None:
    """For a refresh task: what changed in its prompt, in the prompt's own terms."""
    compiled = obj.details.get("compiled")
    if obj.kind != "task" or compiled is None or record is None:
        return None
    return prompt_diff(record.applied_sql, compiled)


def _sql_diff(record: ManagedRecord | None, obj: DesiredObject) -> str | None:
    """Diff of the changed parts: what rulectl last applied vs what apply would create. None for an
    object built only when applied (the wide insights view): building and diffing its SQL, one
    join per prompt, took most of a plan where 200 prompts changed (the prompt diffs say it)."""
    if record is None or not record.applied_sql or obj.fingerprint_source is not None:
        return None
    return sql_diff(record.applied_sql, obj.canonical_sql)


def make_plan(project: str, target: str, steps: list[Step], deployed: DeployedState, **extra) -> Plan:
    return Plan(
        plan_id=uuid.uuid4().hex[:12],
        project=project,
        target=target,
        created_at=now_utc().isoformat(),
        state_fingerprint=deployed.fingerprint,
        introspection_queries=deployed.queries,
        steps=tuple(steps),
        **extra,
    )
