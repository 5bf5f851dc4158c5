"""A/B figures for one hot path without HTTP: login, refresh, validate or issue (`GET /api/jwt/issue`
for the other application) through the whole WSGI stack (every middleware, DRF, the services,
PostgreSQL), in this process.

    .venv/bin/python bench/inprocess.py validate                 # CPU ms per request, 7 blocks
    .venv/bin/python bench/inprocess.py refresh --requests 500 --blocks 5
    .venv/bin/python bench/inprocess.py login --real-hash        # the product's Argon2id (19 MiB, t=2)
    .venv/bin/python bench/inprocess.py login --revoked 20000    # each user with 20,000 revoked sessions
    bench/instructions.sh validate                               # instructions per request (valgrind)

On a shared host req/s and even CPU time drift by a third within minutes (bench/README.md, "Stop
23"); instructions do not. `bench/instructions.sh` runs this script under valgrind's cachegrind
twice (`--only N`: N requests after the warm-up, nothing printed) and divides the difference.

Drops and re-creates the PostgreSQL database `bench_inprocess` (127.0.0.1:5432, user postgres)
unless `--reuse` (then the seed of the last run, kept in the git-ignored var/bench_inprocess.json,
is used: the same secrets, ids and API key). Seeds through the services: one tenant (ES256), a Reusable and a
OneTimeUse application, 20 users registered to both, a tenant-locked API key (and with `--revoked N`,
N revoked sessions per user, one INSERT). Settings as
`make bench` gives the server: `config.settings`, DEBUG off, every throttle counted with a budget
out of reach, Argon2id at t=1 / 256 KiB unless `--real-hash`.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hash_clock import HashClock  # bench/, this script's directory

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "bench_inprocess"
STATE = ROOT / "var" / "bench_inprocess.json"
PASSWORD = "bench-password-1"  # noqa: S105 (a bench user's)
USERS = 20
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAt", "-d", "postgres", "-c"]


def _environment(state: dict[str, Any], real_hash: bool) -> None:
    for key in [k for k in os.environ if k.startswith(("DJANGO_", "DATABASE_", "IDENTITY_", "REDIS_URL"))]:
        del os.environ[key]
    from identity.app_settings import DEFAULTS  # no Django setup needed

    rates = ",".join(f"{name}=1000000000/min" for name in sorted(DEFAULTS["IDENTITY_THROTTLE_RATES"]))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECRET_KEY": state["secret"],
            "IDENTITY_KEY_ENCRYPTION_KEY": state["encryption_key"],
            "DJANGO_ENV_FILE": "/nonexistent",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
            "IDENTITY_THROTTLE_RATES": rates,
        }
    )
    if not real_hash:
        os.environ.update({"IDENTITY_ARGON2_TIME_COST": "1", "IDENTITY_ARGON2_MEMORY_KIB": "256"})


def _seed(state: dict[str, Any]) -> dict[str, Any]:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from identity.caller import Caller  # noqa: F401 (the services' import order)
    from identity.models import UsagePolicy
    from identity.services.api_keys import api_key_create
    from identity.services.applications import RoleSpec, application_create
    from identity.services.registrations import registration_create
    from identity.services.tenants import tenant_create
    from identity.services.users import user_create

    tenant = tenant_create(name="In process", issuer="http://127.0.0.1")
    refresh = {"generate_refresh_tokens": True, "allow_token_refresh": True}
    roles = [RoleSpec(name="user", is_default=True)]
    reusable = application_create(tenant=tenant, name="Reusable", roles=roles, **refresh)
    one_time = application_create(
        tenant=tenant,
        name="OneTimeUse",
        roles=roles,
        jwt_enabled=True,
        refresh_token_usage_policy=UsagePolicy.ONE_TIME_USE,
        **refresh,
    )
    for i in range(USERS):
        user = user_create(tenant=tenant, email=f"u{i}@example.com", password=PASSWORD)
        registration_create(user=user, application=reusable, roles=["user"])
        registration_create(user=user, application=one_time, roles=["user"])
    _, key = api_key_create(tenant=tenant, name="in process")
    return {**state, "reusable": str(reusable.pk), "one_time": str(one_time.pk), "api_key": key}


def _revoked_sessions(state: dict[str, Any], per_user: int) -> None:
    """`per_user` revoked sessions for every user (of the Reusable application, opened over the
    last week and revoked a day ago), as the per-user session limit leaves them behind until the
    purge removes them (a week after their revocation by default)."""
    from django.db import connection

    from identity.models import RefreshToken, User

    table, users = RefreshToken._meta.db_table, User._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, family_id, token_digest, value_salt, generation, started_at,"  # noqa: S608
            " created_at, expires_at, revoked_at, revoke_reason, device_name, device_description,"
            " device_type, last_accessed_address, scopes, data, application_id, user_id, tenant_id)"
            " SELECT gen_random_uuid(), gen_random_uuid(), md5(n::text), '', 0, stamp, stamp,"
            " stamp + interval '30 days', now() - interval '1 day', 'session_limit', '', '', '', '',"
            " '[]', '{}', %s, u.id, u.tenant_id FROM generate_series(1, %s) AS n"
            f" CROSS JOIN {users} AS u,"
            " LATERAL (SELECT now() - interval '7 days' + n * interval '10 ms') AS s(stamp)"
            " WHERE u.email LIKE 'u%%@example.com'",
            [state["reusable"], per_user],
        )
        cursor.execute(f"VACUUM ANALYZE {table}")


class Driver:
    """Requests through Django's WSGI handler, as gunicorn would hand them over."""

    def __init__(self, state: dict[str, Any]) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.app, self.state, self.count = WSGIHandler(), state, 0
        self.refresh_value: str | None = None
        self.access_token: str | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **meta: str) -> bytes:
        data = json.dumps(body).encode() if body is not None else b""
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(data), "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr, "CONTENT_LENGTH": str(len(data)), **meta,
        }  # fmt: skip
        if body is not None:
            environ["CONTENT_TYPE"] = "application/json"
        status: list[str] = []
        chunks = self.app(environ, lambda s, headers, exc_info=None: status.append(s))
        content = b"".join(chunks)
        chunks.close()
        if not status[0].startswith("200"):
            raise SystemExit(f"{method} {path} answered {status[0]}: {content[:300]!r}")
        return content

    def login(self) -> bytes:
        self.count += 1
        body = {
            "loginId": f"u{self.count % USERS}@example.com",
            "password": PASSWORD,
            "applicationId": self.state["reusable"],
        }
        return self.call("POST", "/api/login", body, HTTP_AUTHORIZATION=self.state["api_key"])

    def refresh(self) -> bytes:
        if self.refresh_value is None:
            from identity.models import Application, User
            from identity.services.refresh_tokens import refresh_token_create

            user = User.objects.get(email="u0@example.com")
            application = Application.objects.get(pk=self.state["one_time"])
            self.refresh_value = refresh_token_create(user=user, application=application).value
        content = self.call("POST", "/api/jwt/refresh", {"refreshToken": self.refresh_value})
        self.refresh_value = json.loads(content)["refreshToken"]
        return content

    def validate(self) -> bytes:
        if self.access_token is None:
            self.access_token = json.loads(self.login())["token"]
        return self.call("GET", "/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {self.access_token}")

    def issue(self) -> bytes:
        if self.access_token is None:
            self.access_token = json.loads(self.login())["token"]
        query = f"applicationId={self.state['one_time']}"
        return self.call(
            "GET", "/api/jwt/issue", QUERY_STRING=query, HTTP_AUTHORIZATION=f"Bearer {self.access_token}"
        )


def _backend_cpu() -> Callable[[], float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def seconds() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", choices=["login", "refresh", "validate", "issue"])
    parser.add_argument("--requests", type=int, default=300, help="requests per block")
    parser.add_argument("--blocks", type=int, default=7, help="blocks measured (median and best shown)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="the last run's database and seed")
    parser.add_argument("--real-hash", action="store_true", help="the product's Argon2id parameters")
    parser.add_argument("--only", type=int, metavar="N", help="N requests after the warm-up, no output")
    parser.add_argument(
        "--revoked", type=int, default=0, metavar="N", help="seed N revoked sessions per user (no --reuse)"
    )
    args = parser.parse_args()
    if args.revoked < 0:
        parser.error("--revoked takes a number of sessions, 0 or more")
    if args.reuse and args.revoked:
        parser.error("--revoked seeds a fresh database: not with --reuse")
    if args.reuse:
        if not STATE.exists():
            parser.error(f"--reuse needs a run without it first ({STATE} is missing)")
        state = json.loads(STATE.read_text())
    else:
        state = {
            "secret": secrets.token_urlsafe(50),
            "encryption_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        }
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"], check=True)  # noqa: S603
        subprocess.run([*PSQL, f"CREATE DATABASE {DATABASE}"], check=True)  # noqa: S603
    _environment(state, args.real_hash)
    import django

    django.setup()
    if not args.reuse:
        state = _seed(state)
        if args.revoked:
            _revoked_sessions(state, args.revoked)
        STATE.parent.mkdir(exist_ok=True)
        STATE.write_text(json.dumps(state))
        STATE.chmod(0o600)
    driver = Driver(state)
    request = getattr(driver, args.path)
    for _ in range(args.warmup):
        request()
    if args.only is not None:
        for _ in range(args.only):
            request()
        return 0
    hashing = HashClock() if args.path == "login" else None
    backend = _backend_cpu()
    blocks = []
    for _ in range(args.blocks):
        cpu, pg = time.process_time(), backend()
        if hashing:
            hashing.seconds = 0.0
        for _ in range(args.requests):
            request()
        blocks.append(
            (
                (time.process_time() - cpu) * 1000 / args.requests,
                (backend() - pg) * 1000 / args.requests,
                hashing.seconds * 1000 / args.requests if hashing else 0.0,
            )
        )
    app = sorted(a for a, _, _ in blocks)
    print(
        f"{args.path}: app CPU per request {statistics.median(app):.3f} ms (best block {app[0]:.3f}), "
        f"PostgreSQL backend {statistics.median(p for _, p, _ in blocks):.3f} ms; "
        f"{args.blocks} blocks of {args.requests}"
    )
    if hashing:
        around = statistics.median(a - h for a, _, h in blocks)
        print(
            f"of a login's app CPU, the password hash (argon2's verify, timed inside these logins) "
            f"{statistics.median(h for _, _, h in blocks):.3f} ms; the rest of the login {around:.3f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
