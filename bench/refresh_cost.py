"""The database cost of one refresh (and of one login, for scale): statements, rows written, WAL.

    flock /tmp/bench.lock .venv/bin/python bench/refresh_cost.py [--refreshes 2000] [--logins 300]
                                                                 [--fillfactor 90]

Drops and re-creates the PostgreSQL database `bench_refresh_cost` (127.0.0.1:5432, user postgres),
migrates it and seeds through the services: one tenant, three applications (OneTimeUse, Reusable
with a Fixed expiry, Reusable with a SlidingWindow expiry), 50 users registered to all three, and
`--refreshes` refresh tokens per application spread over the users. Then, in this process (the same
service calls a request makes, without HTTP), for each scenario it runs N operations, each token
used once, and prints per operation:

- statements: SQL statements sent (Django's query capture; BEGIN/COMMIT of autocommit are not
  statements here, SAVEPOINTs would be);
- rows inserted / updated (of which HOT) / deleted: deltas of pg_stat_user_tables of this database
  (flushed with pg_stat_force_next_flush());
- WAL bytes: pg_wal_lsn_diff of pg_current_wal_insert_lsn() before and after, divided by N. The WAL
  is the whole cluster's: other databases' writes during the run count too, so the script also
  prints how many other backends were active, and, for refreshes, the WAL of the UPDATE itself
  measured exactly with EXPLAIN (ANALYZE, WAL) on a second set of tokens (the commit record,
  ~40 bytes, comes on top).

Numbers from a shared machine: the statement and row counts are exact, the LSN figure is an upper
bound when the cluster is busy.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DATABASE = "bench_refresh_cost"
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-d", "postgres"]
USERS = 50
SHOW_SQL = "--show-sql" in sys.argv
PASSWORD = "bench-password-1"  # noqa: S105 (a bench user's)


def _environment() -> None:
    for key in [k for k in os.environ if k.startswith(("DJANGO_", "DATABASE_", "IDENTITY_", "REDIS_URL"))]:
        del os.environ[key]
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "IDENTITY_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "DJANGO_ENV_FILE": "/nonexistent",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
            # The database cost of a login does not depend on the hash's cost.
            "IDENTITY_ARGON2_TIME_COST": "1",
            "IDENTITY_ARGON2_MEMORY_KIB": "1024",
        }
    )


def _psql(statement: str) -> None:
    subprocess.run([*PSQL, "-c", statement], check=True, capture_output=True)  # noqa: S603


def _fillfactor() -> int:
    """The refresh-token table's fillfactor as PostgreSQL has it (migration 0013 sets 90)."""
    options = _scalar("SELECT reloptions FROM pg_class WHERE relname = 'identity_refreshtoken'") or []
    return next((int(o.split("=")[1]) for o in options if o.startswith("fillfactor=")), 100)


def _scalar(sql: str) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _scalar_none(sql: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)


def _table_stats() -> dict[str, int]:
    _scalar("SELECT pg_stat_force_next_flush()")
    time.sleep(0.05)
    _scalar("SELECT pg_stat_clear_snapshot()")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0),"
            " coalesce(sum(n_tup_hot_upd), 0), coalesce(sum(n_tup_del), 0) FROM pg_stat_user_tables"
        )
        ins, upd, hot, dele = cursor.fetchone()
    return {"inserted": int(ins), "updated": int(upd), "hot": int(hot), "deleted": int(dele)}


def _other_active_backends() -> int:
    return int(
        _scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
    )


def measure(name: str, operations: list[Callable[[], Any]]) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    operations[0]()  # warm-up: the process's first use builds its key snapshot (not a refresh's cost)
    # The capture counts what the connection's query log gained, and that log keeps 9,000 at most:
    # empty it, or a scenario run after 9,000 earlier statements counts next to nothing.
    connection.queries_log.clear()
    operations = operations[1:]
    n = len(operations)
    before = _table_stats()
    busy = 0
    lsn_before = _scalar("SELECT pg_current_wal_insert_lsn()::text")
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        for index, operation in enumerate(operations):
            operation()
            if index % 200 == 0:
                busy = max(busy, _other_active_backends())
    seconds = time.perf_counter() - started
    statements = len(queries.captured_queries) - (n - 1) // 200 - 1  # minus the activity probes
    if SHOW_SQL:
        for query in queries.captured_queries[1:8]:
            print("   ", query["sql"][:160])
    wal = int(_scalar(f"SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '{lsn_before}')"))
    after = _table_stats()
    rows = {key: round((after[key] - before[key]) / n, 2) for key in after}
    return {
        "scenario": name,
        "n": n,
        "statementsPerOp": round(statements / n, 2),
        "rowsPerOp": rows,
        "walBytesPerOp": round(wal / n),
        "msPerOp": round(1000 * seconds / n, 2),
        "otherActiveBackendsSeen": busy,
    }


def update_wal_exact(operations: list[Callable[[], Any]]) -> dict[str, Any]:
    """The WAL of each refresh's write (the UPDATE, or the one statement whose CTE updates), by
    running a twin of it as EXPLAIN (ANALYZE, WAL) in a transaction that is rolled back, then the
    statement itself: exact, whatever the rest of the cluster does (the twin writes the same
    records; its abort record is not counted)."""
    from django.db import connection

    records: list[tuple[int, int, int]] = []

    def explain_updates(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if not (sql.startswith("UPDATE") or (sql.startswith("WITH") and " AS (UPDATE " in sql)):
            return execute(sql, params, many, context)
        cursor = context["cursor"]
        cursor.execute("BEGIN")
        cursor.execute(f"EXPLAIN (ANALYZE, WAL, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
        cursor.execute("ROLLBACK")
        plan = plan if isinstance(plan, list) else json.loads(plan)
        records.append(_wal_of(plan[0]["Plan"]))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain_updates):
        for operation in operations:
            operation()
    n = max(len(records), 1)
    return {
        "updates": len(records),
        "walRecordsPerUpdate": round(sum(r[0] for r in records) / n, 2),
        "walBytesPerUpdate": round(sum(r[1] for r in records) / n),
        "fullPageImagesPerUpdate": round(sum(r[2] for r in records) / n, 3),
    }


def _wal_of(node: dict[str, Any]) -> tuple[int, int, int]:
    """WAL records, bytes and full-page images of the plan node that wrote the most: the UPDATE's
    own node, or one that includes it (a node's figures include its children's; a CTE's UPDATE
    may also run after the node that reads it and be counted by no other node). Reads write none."""
    own = (node.get("WAL Records", 0), node.get("WAL Bytes", 0), node.get("WAL FPI", 0))
    return max([own, *(_wal_of(child) for child in node.get("Plans", []))], key=lambda wal: wal[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refreshes", type=int, default=2000)
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument(
        "--show-sql", action="store_true", help="Print the first statements of each scenario."
    )
    parser.add_argument(
        "--fillfactor",
        type=int,
        choices=range(10, 101),
        metavar="10-100",
        help="Set the refresh-token table's fillfactor before it is filled (migration 0013 sets 90; "
        "at PostgreSQL's default of 100, full pages leave no room for a HOT update on the same page).",
    )
    args = parser.parse_args()
    _environment()
    _psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _psql(f"CREATE DATABASE {DATABASE}")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.fillfactor:
        _scalar_none(f"ALTER TABLE identity_refreshtoken SET (fillfactor = {int(args.fillfactor)})")
    from identity.caller import Caller  # noqa: F401 (the services' import order)
    from identity.models import ExpirationPolicy, UsagePolicy
    from identity.services.applications import RoleSpec, application_create
    from identity.services.login import password_login
    from identity.services.refresh_tokens import refresh_grant, refresh_token_create
    from identity.services.registrations import registration_create
    from identity.services.tenants import tenant_create
    from identity.services.users import user_create

    tenant = tenant_create(name="Cost", issuer="http://127.0.0.1")
    policies = {
        "refresh OneTimeUse (Fixed)": (UsagePolicy.ONE_TIME_USE, ExpirationPolicy.FIXED),
        "refresh Reusable (Fixed)": (UsagePolicy.REUSABLE, ExpirationPolicy.FIXED),
        "refresh Reusable (SlidingWindow)": (UsagePolicy.REUSABLE, ExpirationPolicy.SLIDING_WINDOW),
    }
    applications = {
        name: application_create(
            tenant=tenant,
            name=name,
            roles=[RoleSpec(name="user", is_default=True)],
            generate_refresh_tokens=True,
            allow_token_refresh=True,
            jwt_enabled=True,
            refresh_token_usage_policy=usage,
            refresh_token_expiration_policy=expiry,
        )
        for name, (usage, expiry) in policies.items()
    }
    users = [user_create(tenant=tenant, email=f"u{i}@example.com", password=PASSWORD) for i in range(USERS)]
    for user in users:
        for application in applications.values():
            registration_create(user=user, application=application, roles=["user"])

    def values(application: Any, count: int) -> list[str]:
        return [
            refresh_token_create(user=users[i % USERS], application=application).value for i in range(count)
        ]

    print(
        f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} postgres={_scalar('SHOW server_version')}"
        f" wal_level={_scalar('SHOW wal_level')} full_page_writes={_scalar('SHOW full_page_writes')}"
        f" synchronous_commit={_scalar('SHOW synchronous_commit')} fillfactor={_fillfactor()}",
        flush=True,
    )
    results = []
    for name, application in applications.items():
        measured = values(application, args.refreshes + 1)
        exact = values(application, max(args.refreshes // 4, 1))
        result = measure(name, [lambda v=v: refresh_grant(value=v) for v in measured])
        result["updateWalExact"] = update_wal_exact([lambda v=v: refresh_grant(value=v) for v in exact])
        results.append(result)
        print(json.dumps(result), flush=True)
    login_app = applications["refresh Reusable (Fixed)"]
    logins = [
        lambda i=i: password_login(
            tenant=tenant, application=login_app, login_id=f"u{i % USERS}@example.com", password=PASSWORD
        )
        for i in range(args.logins + 1)
    ]
    result = measure("login (password, with a refresh token)", logins)
    results.append(result)
    print(json.dumps(result), flush=True)
    from django.db import connections

    connections.close_all()
    _psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
