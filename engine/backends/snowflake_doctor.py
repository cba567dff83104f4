"""`rulectl doctor` on a Snowflake target: what `dbt debug` and `snow connection test` are to their
users, before the first apply — the session (user, role, database, warehouse), the privileges apply
needs, and one real call per Cortex function with the project's own settings. Each failure says
what to run.

Privileges are read with SHOW GRANTS ON DATABASE / SCHEMA / ACCOUNT (columns privilege, granted_on,
name, granted_to, grantee_name: https://docs.snowflake.com/en/release-notes/bcr-bundles/2025_01/bcr-1803)
and matched against the roles the user holds: CURRENT_AVAILABLE_ROLES "includes all roles that are
granted directly to the user plus all account-level roles lower in the hierarchies of these roles"
(https://docs.snowflake.com/en/sql-reference/functions/current_available_roles). It "does not return
the names of database roles", so a privilege held only through a database role shows as missing:
the check then says it found no grant, and apply itself remains the final word.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from engine.backends.base import STATE_SCHEMA, DoctorCheck
from engine.compile.cortex_calls import project_calls

if TYPE_CHECKING:
    from engine.backends.snowflake import SnowflakeBackend
    from engine.config.project import LoadedProject

SESSION_FUNCTIONS = ("CURRENT_USER", "CURRENT_ROLE", "CURRENT_DATABASE", "CURRENT_WAREHOUSE", "CURRENT_AVAILABLE_ROLES")


def snowflake_checks(backend: SnowflakeBackend, loaded: LoadedProject, target: Any) -> list[DoctorCheck]:
    user, role, database, warehouse, roles = _session(backend)
    checks = [DoctorCheck("connection", True, f"connected as {user} with role {role}")]
    checks.append(_database_check(backend, database, role))
    checks.append(_warehouse_check(target, warehouse, role))
    if database is None:  # without the database no grant can be read
        return checks + backend.cortex_checks(project_calls(loaded))
    checks += _privilege_checks(backend, loaded, target, role, roles)
    return checks + backend.cortex_checks(project_calls(loaded))


def _session(backend: SnowflakeBackend) -> tuple[str, str, str | None, str | None, set[str]]:
    row = backend.query(exp.select(*(exp.Anonymous(this=name) for name in SESSION_FUNCTIONS)))[0]
    user, role, database, warehouse, available = row
    roles = {str(r).upper() for r in json.loads(available or "[]")} | {str(role).upper()}
    return str(user), str(role), database, warehouse, roles


def _database_check(backend: SnowflakeBackend, database: str | None, role: str) -> DoctorCheck:
    if database is not None and database.upper() == backend.database:
        return DoctorCheck("database", True, f"{backend.database} is in use")
    return DoctorCheck(
        "database", False, f"the session cannot use database {backend.database} (it does not exist, or role {role} has no USAGE on it)",
        fix=f"create it (`CREATE DATABASE {backend.database}`) or run `GRANT USAGE ON DATABASE {backend.database} TO ROLE {role}`",
    )


def _warehouse_check(target: Any, warehouse: str | None, role: str) -> DoctorCheck:
    wanted = (target.warehouse or "").upper()
    if warehouse and (not wanted or warehouse.upper() == wanted):
        return DoctorCheck("warehouse", True, f"{warehouse} is in use" + (" (tasks run serverless)" if target.serverless_tasks else ""))
    if wanted:
        return DoctorCheck("warehouse", False, f"the session cannot use warehouse {wanted} (it does not exist, or role {role} has no USAGE on it)", fix=f"run `GRANT USAGE ON WAREHOUSE {wanted} TO ROLE {role}`")
    return DoctorCheck("warehouse", False, "the connection names no warehouse, and rulectl's queries need one", fix="set `warehouse:` on the target in rulectl.yml or in the connection (connections.toml)")


def needed_privileges(loaded: LoadedProject, target: Any) -> dict[str, tuple[str, ...]]:
    """Schema → the CREATE privileges apply uses in it (views of metrics and segments; AI output
    tables, the insights view and refresh tasks; rulectl's own records)."""
    schemas = loaded.config.schemas
    analytics = ("CREATE VIEW", "CREATE SEMANTIC VIEW") if target.semantic_view else ("CREATE VIEW",)
    needed: dict[str, tuple[str, ...]] = {schemas.analytics.upper(): analytics}
    ai = ("CREATE TABLE", "CREATE VIEW", "CREATE TASK")
    needed[schemas.ai.upper()] = tuple(dict.fromkeys(needed.get(schemas.ai.upper(), ()) + ai))
    needed[STATE_SCHEMA] = ("CREATE TABLE",)
    return needed


def _privilege_checks(backend: SnowflakeBackend, loaded: LoadedProject, target: Any, role: str, roles: set[str]) -> list[DoctorCheck]:
    database = backend.database
    held = lambda grants, privilege: any(g["privilege"] in (privilege, "OWNERSHIP") and g["grantee_name"].upper() in roles for g in grants)  # noqa: E731
    existing = {row["name"].upper() for row in backend._rows(f"SHOW SCHEMAS IN DATABASE {database}")}
    on_database = _grants(backend, f"DATABASE {database}")
    checks: list[DoctorCheck] = []
    missing_schemas = [schema for schema in needed_privileges(loaded, target) if schema not in existing]
    if missing_schemas:
        ok = held(on_database, "CREATE SCHEMA")
        detail = f"apply creates schema{'s' if len(missing_schemas) > 1 else ''} {', '.join(missing_schemas)}"
        checks.append(DoctorCheck(f"CREATE SCHEMA on database {database}", ok, detail + ("" if ok else f"; no grant of CREATE SCHEMA to {role} or its roles"), None if ok else f"run `GRANT CREATE SCHEMA ON DATABASE {database} TO ROLE {role}`"))
    for schema, privileges in needed_privileges(loaded, target).items():
        if schema not in existing:
            continue  # created by apply, so owned by the role
        on_schema = _grants(backend, f"SCHEMA {database}.{schema}")
        missing = [p for p in ("USAGE", *privileges) if not held(on_schema, p)]
        name = f"privileges on schema {database}.{schema}"
        if missing:
            checks.append(DoctorCheck(name, False, f"role {role} (and the roles it holds) has no {', '.join(missing)}", f"run `GRANT {', '.join(missing)} ON SCHEMA {database}.{schema} TO ROLE {role}`"))
        else:
            checks.append(DoctorCheck(name, True, ", ".join(("USAGE", *privileges))))
    on_account = _grants(backend, "ACCOUNT")
    # https://docs.snowflake.com/en/user-guide/tasks-intro: a role needs EXECUTE TASK to run tasks it
    # owns, and EXECUTE MANAGED TASK for serverless ones
    for privilege in ("EXECUTE TASK", "EXECUTE MANAGED TASK") if target.serverless_tasks else ("EXECUTE TASK",):
        ok = held(on_account, privilege)
        checks.append(DoctorCheck(
            f"{privilege} on account", ok, "the refresh tasks can run" if ok else f"no grant of {privilege} to {role} or its roles: the refresh tasks would never run",
            None if ok else f"run `GRANT {privilege} ON ACCOUNT TO ROLE {role}` (as ACCOUNTADMIN)",
        ))
    return checks


def _grants(backend: SnowflakeBackend, on: str) -> list[dict[str, str]]:
    """SHOW GRANTS ON <on>: the grants to roles, privilege and grantee upper case; [] when the role
    cannot see them (SHOW GRANTS needs a privilege on the object)."""
    try:
        rows = backend._rows(f"SHOW GRANTS ON {on}")
    except Exception:
        return []
    return [{"privilege": str(r.get("privilege", "")).upper(), "grantee_name": str(r.get("grantee_name", ""))} for r in rows if str(r.get("granted_to", "ROLE")).upper() == "ROLE"]
