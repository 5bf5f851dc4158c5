"""The CPU of one client-credentials grant, in process: the whole Django request (WSGI handler,
middleware, view, service, signature) without HTTP, wrk or gunicorn, and the PostgreSQL backend's
CPU for its statements.

    flock /tmp/bench.lock .venv/bin/python bench/client_credentials_cost.py [--grants 3000] [--profile]

Drops and re-creates the PostgreSQL database `bench_client_credentials_cost` (127.0.0.1:5432, user
postgres), migrates it and seeds through the services one tenant (ES256 key) and one OAuth client,
then sends `--grants` `POST /connect/token` requests (seed 002's form: id and secret in the body)
straight to Django's WSGI handler with the settings gunicorn serves (DEBUG off, no REDIS_URL: the
throttles count in the process's memory). It prints per grant: this process's CPU
(`time.process_time`), the database backend's CPU (utime + stime of its /proc entry, same machine),
the statements sent, and the answer's status codes. `--profile` adds the cProfile functions with the
most own time (run it apart: the profiler doubles the CPU).

Per-grant CPU is steadier than a throughput figure on a shared machine, not immune to it: a busy
machine inflates both (caches, frequency). Compare runs made close together.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import os
import pstats
import secrets
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DATABASE = "bench_client_credentials_cost"
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-d", "postgres"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BATCH = 100


def _environment() -> None:
    for key in [k for k in os.environ if k.startswith(("DJANGO_", "DATABASE_", "IDENTITY_", "REDIS_URL"))]:
        del os.environ[key]
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "IDENTITY_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "DJANGO_ENV_FILE": "/nonexistent",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
            # Counted as in production, never reached: every grant comes from one address.
            "IDENTITY_THROTTLE_RATES": "oauth.address=1000000000/min",
        }
    )


def _psql(statement: str) -> None:
    subprocess.run([*PSQL, "-c", statement], check=True, capture_output=True)  # noqa: S603


def _backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _seed() -> tuple[str, str]:
    from identity.services.applications import application_create
    from identity.services.oauth_clients import oauth_client_configure
    from identity.services.signing_keys import signing_key_generate, tenant_signing_key_set
    from identity.services.tenants import tenant_create

    tenant = tenant_create(name="Cost", issuer="http://127.0.0.1")
    key = tenant.access_token_signing_key
    if key is None or key.algorithm != "ES256":
        tenant_signing_key_set(
            tenant=tenant, key=signing_key_generate(tenant=tenant, algorithm="ES256", name="Cost").key
        )
    client = application_create(tenant=tenant, name="Cost client")
    # Its own budget is counted on every grant, as in production, and set beyond reach.
    configured = oauth_client_configure(
        application=client, scopes=["read"], token_requests_per_minute=10_000_000
    )
    if configured.client_secret is None:
        raise SystemExit("the OAuth client got no secret")
    return str(client.pk), configured.client_secret


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grants", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="Print cProfile's top functions.")
    args = parser.parse_args()
    _environment()
    _psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _psql(f"CREATE DATABASE {DATABASE}")
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    client_id, secret = _seed()
    body = urlencode({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    encoded = body.encode()
    handler = WSGIHandler()
    statuses: Counter[str] = Counter()

    def grant() -> None:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/connect/token",
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(encoded)),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_ACCEPT": "application/json",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(encoded),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            statuses[status.split(" ", 1)[0]] += 1

        response = handler(environ, start_response)
        b"".join(response)
        response.close()  # request_finished: what gunicorn triggers after each answer

    for _ in range(50):  # warm-up: keys loaded, statement built, connection open
        grant()
    statuses.clear()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    n = args.grants
    backend_before = _backend_cpu_seconds(backend)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    sent = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent[0] += 1
        return execute(sql, params, many, context)

    batches: list[float] = []
    with connection.execute_wrapper(count):
        for start in range(0, n, BATCH):
            batch_started = time.process_time()
            for _ in range(min(BATCH, n - start)):
                grant()
            batches.append((time.process_time() - batch_started) / min(BATCH, n - start))
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    backend_cpu = _backend_cpu_seconds(backend) - backend_before
    print(
        f"{n} grants: app CPU {1000 * cpu / n:.3f} ms/grant, PostgreSQL backend CPU"
        f" {1000 * backend_cpu / n:.3f} ms/grant, wall {1000 * wall / n:.3f} ms/grant,"
        f" statements/grant {sent[0] / n:.2f}, statuses {dict(statuses)}"
    )
    ordered = sorted(batches)
    print(
        f"app CPU per grant over batches of {BATCH}: fastest {1000 * ordered[0]:.3f} ms,"
        f" quartile {1000 * ordered[len(ordered) // 4]:.3f} ms,"
        f" median {1000 * ordered[len(ordered) // 2]:.3f} ms"
        " (the fastest batches are the least disturbed by other processes)"
    )
    if args.profile:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(min(n, 1000)):
            grant()
        profiler.disable()
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)
        print(stream.getvalue())
    connection.close()
    _psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    return 0 if set(statuses) == {"200"} else 1


if __name__ == "__main__":
    sys.exit(main())
