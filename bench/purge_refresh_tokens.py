"""Time `manage.py purge_refresh_tokens` on a table of N expired refresh tokens (default 1,000,000).

    flock /tmp/bench.lock .venv/bin/python bench/purge_refresh_tokens.py [--rows 1000000] [--live 20000]

Drops and re-creates the PostgreSQL database `bench_purge` (127.0.0.1:5432, user postgres), migrates
it, seeds one tenant, application and user through the services, then fills the table in SQL with
`generate_series`: `--rows` tokens that expired 30 days ago (past the 7-day retention; a tenth of
them revoked too) and `--live` live ones that must survive. It runs the command as a separate
process, as cron would, and prints: rows deleted, wall seconds, rows/s, the command's peak RSS, the
table and index sizes before and after, and a check that exactly the stale rows went. With several
`--rows` values it runs each (e.g. `--rows 100000 --rows 1000000`), so a peak RSS that does not grow
with the rows shows the memory is constant. Numbers from a shared machine are noisy.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bench_purge"
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt"]


def environment() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "IDENTITY_"))}
    return {
        **keep,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "IDENTITY_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DJANGO_ENV_FILE": "/nonexistent",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
    }


def sql(statement: str, database: str = DATABASE) -> str:
    return subprocess.run(  # noqa: S603 (our own command, no shell)
        [*PSQL, "-d", database, "-c", statement], check=True, capture_output=True, text=True
    ).stdout.strip()


SEED = """
import json
from identity.services.applications import application_create
from identity.services.registrations import registration_create
from identity.services.tenants import tenant_create
from identity.services.users import user_create
tenant = tenant_create(name="Purge", issuer="http://127.0.0.1")
app = application_create(tenant=tenant, name="Purge app", generate_refresh_tokens=True)
user = user_create(tenant=tenant, email="purge@example.com", password="bench-password-1")
registration_create(user=user, application=app)
print(json.dumps({"tenant": str(tenant.pk), "application": str(app.pk), "user": str(user.pk)}))
"""

# Random ids and digests, as real rows have (keyset by a random uuid is the realistic worst case).
FILL = """
INSERT INTO identity_refreshtoken (id, family_id, tenant_id, application_id, user_id, token_digest,
  value_salt, generation, started_at, created_at, expires_at, last_used_at, revoked_at, revoke_reason,
  device_name, device_description, device_type, last_accessed_address, scopes, data)
SELECT id, id, '{tenant}', '{application}', '{user}', encode(sha256(('{tag}' || i)::bytea), 'hex'),
  md5(i::text), 0, t - interval '30 days', t - interval '30 days', t, t - interval '1 day',
  CASE WHEN {revoked} AND i % 10 = 0 THEN t - interval '2 days' END,
  CASE WHEN {revoked} AND i % 10 = 0 THEN 'logout' ELSE '' END,
  'bench device', '', 'BROWSER', '127.0.0.1', '[]', '{{}}'
FROM (SELECT i, gen_random_uuid() AS id, {instant} AS t FROM generate_series(1, {rows}) AS i) AS s
"""


def fill(ids: dict[str, str], *, rows: int, live: int) -> None:
    common = {"tenant": ids["tenant"], "application": ids["application"], "user": ids["user"]}
    # Expired 30 days ago, spread over a day, some sharing an instant (the cursor must cope).
    stale = "now() - interval '30 days' - (i % 86400) * interval '1 second'"
    sql(FILL.format(**common, tag="stale", revoked="true", instant=stale, rows=rows))
    sql(FILL.format(**common, tag="live", revoked="false", instant="now() + interval '30 days'", rows=live))
    sql("VACUUM ANALYZE identity_refreshtoken")


def sizes() -> str:
    return sql(
        "SELECT pg_size_pretty(pg_table_size('identity_refreshtoken')) || ' table, ' ||"
        " pg_size_pretty(pg_indexes_size('identity_refreshtoken')) || ' indexes'"
    )


def one_run(rows: int, live: int, batch_size: int, env: dict[str, str]) -> dict[str, object]:
    sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", "postgres")
    sql(f"CREATE DATABASE {DATABASE}", "postgres")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    seed = subprocess.run(  # noqa: S603
        [*manage, "shell", "-c", SEED], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    ids = json.loads(seed.stdout.strip().splitlines()[-1])
    started = time.monotonic()
    fill(ids, rows=rows, live=live)
    filled_seconds = time.monotonic() - started
    before = sizes()
    command = [*manage, "purge_refresh_tokens", "--json", "--batch-size", str(batch_size)]
    # A fresh child whose peak RSS is read alone: wait4 returns the rusage of that one process.
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    summary = json.loads(process.stdout.read() if process.stdout else "{}")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"purge_refresh_tokens failed ({status})")
    left = int(sql("SELECT count(*) FROM identity_refreshtoken"))
    live_left = int(sql("SELECT count(*) FROM identity_refreshtoken WHERE expires_at > now()"))
    return {
        "rows": rows,
        "live": live,
        "batchSize": batch_size,
        "fillSeconds": round(filled_seconds, 1),
        "deleted": summary["deleted"],
        "seconds": round(seconds, 2),
        "rowsPerSecond": round(summary["deleted"] / seconds),
        "peakRssMiB": round(usage.ru_maxrss / 1024, 1),
        "before": before,
        "after": sizes(),
        "exact": summary["deleted"] == rows and left == live and live_left == live,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="Expired rows (repeatable).")
    parser.add_argument("--live", type=int, default=20_000, help="Live rows that must survive.")
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()
    env = environment()
    version = sql("SHOW server_version", "postgres")
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} postgres={version}")
    results = []
    for rows in args.rows or [1_000_000]:
        result = one_run(rows, args.live, args.batch_size, env)
        results.append(result)
        print(json.dumps(result), flush=True)
    sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", "postgres")
    return 0 if all(r["exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
