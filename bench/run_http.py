"""`make bench`: the identity service, the djangorestframework-simplejwt peer and the physical limit
of this machine, all served by gunicorn on loopback, driven by wrk and measured in the same run. It
prints figures and writes them to bench/results/latest.json; it asserts nothing (the query budgets
are tests: tests/test_query_budgets.py).

    .venv/bin/python bench/run_http.py [--workers 2] [--duration 8] [--warmup 2] [--connections 4]
                                       [--rounds 1] [--only validate_ES256,login] [--quick]

Each run drops and re-creates the PostgreSQL databases bench_identity, bench_simplejwt and
bench_ceiling on 127.0.0.1:5432 (user postgres), migrates and seeds them, starts every server with
the same gunicorn settings on free 127.0.0.1 ports, measures the ceilings, then every scenario for
ours then the peer with the same wrk settings, prints a table, writes the JSON and stops the servers
(also on Ctrl-C and errors). Needs `wrk` on PATH. bench/report.py turns the JSON into the chart, the
Markdown table and the README's "Performance" block. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import functools
import http.client
import json
import multiprocessing
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import argon2
import jwt
import psycopg
import report  # bench/report.py (this directory is on sys.path)
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEER_DIR = BENCH / "peers" / "simplejwt_peer"
CEILING_DIR = BENCH / "ceiling"
LUA = BENCH / "wrk" / "bench.lua"
RESULTS = BENCH / "results"
BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "python").exists() else Path(sys.executable).parent
PYTHON = str(BIN / "python")
HOST = "127.0.0.1"
PG = {"host": HOST, "port": 5432, "user": "postgres"}
OURS_DB, PEER_DB, CEILING_DB = "bench_identity", "bench_simplejwt", "bench_ceiling"
CEILING_ROWS = 1000
OUT_OF_REACH_RATE = "1000000000/min"
"""Every request budget of ours (IDENTITY_THROTTLE_RATES) set to this: the throttle still counts each
request in the cache as in production, but the bench's loopback load never reaches a limit."""
"""Rows of the refresh ceiling's table (bench/ceiling/ceiling/views.py updates one at random)."""
THREADS = 1
WRK_TIMEOUT = "10s"
ALGORITHMS = ("ES256", "RS256", "HS256", "EdDSA")
OTHER_LOAD_LIMIT = 0.25
"""Cores used by processes outside the benchmark above which a measure is flagged."""
MIX = {"validate": 0.80, "refresh": 0.15, "login": 0.05}
"""The mixed scenario's shares (bench/wrk/bench.lua's rotation of 20: 16, 3, 1)."""


# --- processes -------------------------------------------------------------------------------------


class BenchError(Exception):
    """A failure that ends the run with a message and a non-zero exit."""


def run(cmd: list[str], *, env: dict[str, str], cwd: Path = ROOT, stdin: str | None = None) -> str:
    """Run a short command to completion; its output, or BenchError with its output."""
    done = subprocess.run(  # noqa: S603 (our own commands, no shell)
        cmd, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    database: str
    ready_at: int = 0
    """Size of the log when the server first answered: later lines are the run's."""

    def stop(self) -> None:
        """SIGTERM to the server's own process group (gunicorn's master and workers), SIGKILL after 10 s."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def worker_rss_mb(self) -> float:
        """The largest resident set of the server's workers (gunicorn's master's children), MiB."""
        largest = 0
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
            for child in children.split():
                with contextlib.suppress(OSError):
                    for line in Path(f"/proc/{child}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            largest = max(largest, int(line.split()[1]))
        return largest / 1024

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def log_since_ready(self, lines: int = 20) -> str:
        with self.log.open("rb") as log:
            log.seek(self.ready_at)
            return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def gunicorn_start(
    name: str, app: str, *, cwd: Path, env: dict[str, str], log: Path, database: str, workers: int
) -> Server:
    """gunicorn serving `app` through bench/sql_counter.py (which adds the X-Bench-SQL header)."""
    port = free_port()
    cmd = [
        str(BIN / "gunicorn"),
        "sql_counter:application",
        f"--pythonpath={BENCH}",
        f"--bind={HOST}:{port}",
        f"--workers={workers}",
        f"--threads={THREADS}",
        "--log-level=warning",  # no --access-logfile: access logging stays off
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            cmd,
            cwd=cwd,
            env={**env, "BENCH_WSGI_APP": app},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name=name, port=port, process=process, log=log, database=database)


def wait_until_up(server: Server, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"{server.name} exited ({server.process.returncode}):\n{server.log_tail()}")
        try:
            http_call(server.port, "GET", "/", timeout=2)
            server.ready_at = server.log.stat().st_size
            return
        except OSError:
            time.sleep(0.2)
    raise BenchError(f"{server.name} did not answer within {seconds:.0f} s:\n{server.log_tail()}")


def http_call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
    form: str | None = None,
) -> tuple[int, bytes]:
    """One request; `body` is sent as JSON, `form` as an application/x-www-form-urlencoded body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        payload = form if form is not None else json.dumps(body) if body is not None else None
        content_type = "application/x-www-form-urlencoded" if form is not None else "application/json"
        all_headers = {"Content-Type": content_type, **(headers or {})}
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- databases and seeding -------------------------------------------------------------------------


# --- databases and seeding -------------------------------------------------------------------------


def databases_reset() -> str:
    """Drop and create the bench databases (the ceiling's with its one table); the server version."""
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as connection:
        for name in (OURS_DB, PEER_DB, CEILING_DB):
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        row = connection.execute("SHOW server_version").fetchone()
    with psycopg.connect(dbname=CEILING_DB, autocommit=True, **PG) as connection:
        connection.execute("CREATE TABLE ceiling_row (id integer PRIMARY KEY, uses bigint NOT NULL)")
        connection.execute(
            "INSERT INTO ceiling_row SELECT n, 0 FROM generate_series(1, %s) AS n", (CEILING_ROWS,)
        )
    return str(row[0]) if row else "?"


def stored_hash_parameters(dbname: str, table: str) -> str:
    """The parameters of one stored password hash, e.g. `argon2id v=19 m=19456,t=2,p=1`."""
    with psycopg.connect(dbname=dbname, **PG) as connection:
        query = sql.SQL("SELECT password FROM {} LIMIT 1").format(sql.Identifier(table))
        row = connection.execute(query).fetchone()
    if not row:
        return "?"
    # Django stores `argon2$argon2id$v=19$m=19456,t=2,p=1$salt$hash`.
    return " ".join(str(row[0]).split("$")[1:4])


def clean_environment() -> dict[str, str]:
    prefixes = ("DJANGO_", "DATABASE_", "IDENTITY_", "PEER_", "CEILING_", "BENCH_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def ours_environment() -> dict[str, str]:
    return {
        **clean_environment(),
        "DATABASE_URL": f"postgres://postgres@{HOST}:5432/{OURS_DB}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "IDENTITY_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DJANGO_ENV_FILE": "/nonexistent",
        "DJANGO_LOG_LEVEL": "WARNING",
        "IDENTITY_THROTTLE_RATES": ",".join(f"{name}={OUT_OF_REACH_RATE}" for name in throttle_scopes()),
    }


def throttle_scopes() -> list[str]:
    """The `<scope>.<dimension>` names of ours' default request budgets (identity/app_settings.py)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from identity.app_settings import DEFAULTS  # only the defaults: no Django setup

    return sorted(DEFAULTS["IDENTITY_THROTTLE_RATES"])


def peer_environment(algorithm: str, keys: Path) -> dict[str, str]:
    env = {
        **clean_environment(),
        "DJANGO_SETTINGS_MODULE": "peer.settings",
        "PEER_SECRET_KEY": secrets.token_urlsafe(50),
        "PEER_DB_NAME": PEER_DB,
        "PEER_JWT_ALGORITHM": algorithm,
        "PEER_LOG_LEVEL": "WARNING",
    }
    if algorithm.startswith("HS"):
        env["PEER_JWT_SECRET"] = secrets.token_urlsafe(32)
    else:
        keys.mkdir(parents=True, exist_ok=True)
        run([PYTHON, str(PEER_DIR / "make_keys.py"), algorithm, str(keys)], env=env, cwd=PEER_DIR)
        env["PEER_JWT_PRIVATE_KEY_FILE"] = str(keys / "private.pem")
        env["PEER_JWT_PUBLIC_KEY_FILE"] = str(keys / "public.pem")
    return env


def ceiling_environment() -> dict[str, str]:
    return {
        **clean_environment(),
        "DJANGO_SETTINGS_MODULE": "ceiling.settings",
        "CEILING_SECRET_KEY": secrets.token_urlsafe(50),
        "CEILING_DB_NAME": CEILING_DB,
    }


# --- the sides' credentials ------------------------------------------------------------------------


@dataclass
class Context:
    ours: Server
    peer: Server | None
    """The peer serving the current scenario (its signing algorithm is the scenario's)."""
    ceiling: Server
    seed: dict[str, Any]
    users: list[dict[str, str]]
    """Same index, same password on both sides: {"email", "username", "password"}."""

    def ours_login(self, index: int, application_id: str) -> dict[str, Any]:
        user = self.users[index % len(self.users)]
        body = {"loginId": user["email"], "password": user["password"], "applicationId": application_id}
        status, raw = http_call(
            self.ours.port, "POST", "/api/login", body, headers={"Authorization": self.seed["apiKey"]}
        )
        if status != 200:
            raise BenchError(f"ours: login of {user['email']} answered {status}: {raw[:300]!r}")
        return dict(json.loads(raw))

    def peer_login(self, index: int) -> dict[str, Any]:
        if self.peer is None:
            raise BenchError("no peer serves this scenario")
        user = self.users[index % len(self.users)]
        body = {"username": user["username"], "password": user["password"]}
        status, raw = http_call(self.peer.port, "POST", "/api/token/", body)
        if status != 200:
            raise BenchError(f"peer: login of {user['username']} answered {status}: {raw[:300]!r}")
        return dict(json.loads(raw))


# Value makers: the lines of a wrk run's file, `count` of them (one per connection at least).
Values = Callable[[Context, int], list[str]]


def ours_login_bodies(ctx: Context, count: int) -> list[str]:
    app = ctx.seed["reusableApplicationId"]
    return [
        json.dumps({"loginId": u["email"], "password": u["password"], "applicationId": app})
        for u in ctx.users
    ]


def peer_login_bodies(ctx: Context, count: int) -> list[str]:
    return [json.dumps({"username": u["username"], "password": u["password"]}) for u in ctx.users]


def ours_refresh_tokens(application_key: str) -> Values:
    def make(ctx: Context, count: int) -> list[str]:
        return [ctx.ours_login(i, ctx.seed[application_key])["refreshToken"] for i in range(count)]

    return make


def ours_reusable_bodies(ctx: Context, count: int) -> list[str]:
    tokens = ours_refresh_tokens("reusableApplicationId")(ctx, count)
    return [json.dumps({"refreshToken": token}) for token in tokens]


def ours_access_tokens(ctx: Context, count: int) -> list[str]:
    return [ctx.ours_login(i, ctx.seed["reusableApplicationId"])["token"] for i in range(count)]


def ours_algorithm_tokens(algorithm: str) -> Values:
    """Access tokens of the application whose own key has this algorithm."""

    def make(ctx: Context, count: int) -> list[str]:
        app = ctx.seed["validateApplicationIds"][algorithm]
        return [ctx.ours_login(i, app)["token"] for i in range(count)]

    return make


def ours_pats(ctx: Context, count: int) -> list[str]:
    return list(ctx.seed["pats"])


def ours_vend_bodies(ctx: Context, count: int) -> list[str]:
    return [
        json.dumps({"claims": {"sub": user_id, "roles": ["user"], "scope": "bench"}})
        for user_id in ctx.seed["userIds"][: max(count, 1)]
    ]


def ours_client_credentials_bodies(ctx: Context, count: int) -> list[str]:
    """Seed 002's request: the client id and secret in the form body."""
    body = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": ctx.seed["oauthClientId"],
            "client_secret": ctx.seed["oauthClientSecret"],
        }
    )
    return [body] * count


def _mixed_login_user(ctx: Context, i: int) -> dict[str, str]:
    """The user connection `i` of the mixed scenario logs in as: one from the other half of the
    users, not the owner of its access token and refresh chain. Each login past the per-user limit
    of sessions (100) evicts that user's oldest session, and a connection logs in about 100 times
    in a run on a fast host: its own chain's session would be the one evicted (400s)."""
    return ctx.users[(i + len(ctx.users) // 2) % len(ctx.users)]


def ours_mixed_lines(ctx: Context, count: int) -> list[str]:
    """access token, OneTimeUse refresh token (a chain), login body: one line per connection."""
    app, one_time = ctx.seed["reusableApplicationId"], ctx.seed["oneTimeUseApplicationId"]
    lines = []
    for i in range(count):
        user = _mixed_login_user(ctx, i)
        body = json.dumps({"loginId": user["email"], "password": user["password"], "applicationId": app})
        access = ctx.ours_login(i, app)["token"]
        lines.append(f"{access}\t{ctx.ours_login(i, one_time)['refreshToken']}\t{body}")
    return lines


def peer_refresh_tokens(ctx: Context, count: int) -> list[str]:
    return [ctx.peer_login(i)["refresh"] for i in range(count)]


def peer_verify_bodies(ctx: Context, count: int) -> list[str]:
    return [json.dumps({"token": ctx.peer_login(i)["access"]}) for i in range(count)]


def peer_mixed_lines(ctx: Context, count: int) -> list[str]:
    lines = []
    for i in range(count):
        user = _mixed_login_user(ctx, i)
        body = json.dumps({"username": user["username"], "password": user["password"]})
        pair = ctx.peer_login(i)
        lines.append(f"{pair['access']}\t{pair['refresh']}\t{body}")
    return lines


def ours_mixed_args(ctx: Context) -> list[str]:
    return [
        "vpath=/api/jwt/validate",
        "vstyle=bearer",
        "rpath=/api/jwt/refresh",
        "lpath=/api/login",
        f"lauth={ctx.seed['apiKey']}",
    ]


def peer_mixed_args(ctx: Context) -> list[str]:
    return [
        "vpath=/api/token/verify/",
        "vstyle=json",
        "rpath=/api/token/refresh/",
        "lpath=/api/token/",
        "lauth=",
    ]


# --- scenarios -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    method: str
    path: str
    """May name seed values: `/api/jwt/issue?applicationId={oneTimeUseApplicationId}`."""
    mode: str
    """bench.lua's mode: cycle, fixed, form, bearer, chain, plain or mixed."""
    values: Values
    api_key: bool = False
    send: str = ""
    take: str = ""
    renew: str = ""
    """bearer mode: the response header whose `Bearer <token>` replaces the token sent."""
    lua_args: Callable[[Context], list[str]] | None = None
    """More bench.lua arguments (the mixed mode's paths)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    ours: Side
    peer: Side | None
    """None when the peer has no such endpoint (ours is measured alone)."""
    ceiling: str
    """Which ceiling applies (`ceiling_for`)."""
    note: str
    peer_algorithm: str | None = None
    """The peer's signing algorithm for this scenario; None: --algorithm."""


def validate_scenario(algorithm: str) -> Scenario:
    return Scenario(
        name=f"validate_{algorithm}",
        ours=Side("GET", "/api/jwt/validate", "bearer", ours_algorithm_tokens(algorithm)),
        peer=Side("POST", "/api/token/verify/", "fixed", peer_verify_bodies),
        ceiling=f"validate:{algorithm}",
        note=f"access-token validation, {algorithm} (ours: GET with Authorization: Bearer; peer: "
        "TokenVerifyView, which also checks its blacklist)",
        peer_algorithm=algorithm,
    )


ONE_TIME_CHAIN = ours_refresh_tokens("oneTimeUseApplicationId")
PEER_CHAIN = Side("POST", "/api/token/refresh/", "chain", peer_refresh_tokens, send="refresh", take="refresh")

SCENARIOS = [
    *(validate_scenario(algorithm) for algorithm in ("HS256", "RS256", "ES256", "EdDSA")),
    Scenario(
        name="refresh_reusable",
        ours=Side("POST", "/api/jwt/refresh", "fixed", ours_reusable_bodies),
        peer=PEER_CHAIN,
        ceiling="refresh",
        note="ours: Reusable policy, one fixed refresh token per connection; peer: its rotating "
        "refresh (ROTATE_REFRESH_TOKENS + BLACKLIST_AFTER_ROTATION is the only refresh it has)",
    ),
    Scenario(
        name="refresh_onetime",
        ours=Side(
            "POST", "/api/jwt/refresh", "chain", ONE_TIME_CHAIN, send="refreshToken", take="refreshToken"
        ),
        peer=PEER_CHAIN,
        ceiling="refresh",
        note="rotating refresh on both sides: each connection sends the token of its previous response",
    ),
    Scenario(
        name="login",
        ours=Side("POST", "/api/login", "cycle", ours_login_bodies, api_key=True),
        peer=Side("POST", "/api/token/", "cycle", peer_login_bodies),
        ceiling="login",
        note="password login (Argon2id both sides) issuing an access and a refresh token",
    ),
    Scenario(
        name="vend",
        ours=Side("POST", "/api/jwt/vend", "fixed", ours_vend_bodies, api_key=True),
        peer=None,
        ceiling="sign",
        note="POST /api/jwt/vend (API key): a signed token of the caller's claims",
    ),
    Scenario(
        name="issue",
        ours=Side(
            "GET", "/api/jwt/issue?applicationId={oneTimeUseApplicationId}", "bearer", ours_access_tokens
        ),
        peer=None,
        ceiling="issue",
        note="GET /api/jwt/issue: an access token for another application of the same tenant",
    ),
    Scenario(
        name="client_credentials",
        ours=Side("POST", "/connect/token", "form", ours_client_credentials_bodies),
        peer=None,
        ceiling="sign",
        note="OAuth2 client-credentials grant, secret in the form body (seed 002)",
    ),
    Scenario(
        name="pat_validate",
        ours=Side("GET", "/api/jwt/validate", "bearer", ours_pats),
        peer=None,
        ceiling="validate:tenant",
        note="GET /api/jwt/validate with a personal access token (tenant key)",
    ),
    Scenario(
        name="middleware",
        ours=Side("GET", "/demo/api/hello", "bearer", ours_access_tokens, renew="Authorization"),
        peer=None,
        ceiling="validate:tenant",
        note="GET /demo/api/hello behind identity.middleware (key store; a token older than 10 s comes "
        "back re-signed, and the connection sends the new one from then on)",
    ),
    Scenario(
        name="mixed",
        ours=Side(
            "",
            "/",
            "mixed",
            ours_mixed_lines,
            send="refreshToken",
            take="refreshToken",
            lua_args=ours_mixed_args,
        ),
        peer=Side(
            "", "/", "mixed", peer_mixed_lines, send="refresh", take="refresh", lua_args=peer_mixed_args
        ),
        ceiling="mixed",
        note="80/15/5 validate/refresh (OneTimeUse chain)/login, in a fixed rotation per connection",
    ),
]
NO_PEER = "the peer has no such endpoint"


@dataclass
class Measure:
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: int = 0
    chain_missing: int = 0
    sql: int = 0
    sql_responses: int = 0
    hash_us: int = 0
    """Thread CPU the served requests spent in argon2's verify (X-Bench-Hash-Us), microseconds."""
    skipped: str = ""
    probe_failed: bool = False
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU milliseconds per request: the server's processes, PostgreSQL's, wrk's."""
    other_cores: float = 0.0
    steal_cores: float = 0.0
    """Of other_cores, what the hypervisor took (/proc/stat's steal): other tenants of the host."""
    rss_mb: float = 0.0
    """The largest worker's resident set after the run."""
    spread: tuple[float, float] = (0.0, 0.0)
    """Lowest and highest throughput over the rounds."""
    rounds: int = 1

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def sql_per_request(self) -> float | None:
        return self.sql / self.sql_responses if self.sql_responses else None

    @property
    def hash_ms_per_request(self) -> float | None:
        """Of the app CPU per request, the password hash's (None when no request hashed one)."""
        return self.hash_us / 1e3 / self.sql_responses if self.hash_us and self.sql_responses else None

    @property
    def failures(self) -> int:
        """Non-2xx answers, socket errors and chain responses without a new token."""
        bad = sum(count for status, count in self.statuses.items() if not status.startswith("2"))
        return bad + self.socket_errors + self.chain_missing

    def as_json(self) -> dict[str, Any]:
        if self.skipped:
            return {"skipped": self.skipped}
        data = asdict(self)
        del data["skipped"], data["probe_failed"]
        data.update(
            rate=self.rate,
            sql_per_request=self.sql_per_request,
            hash_ms_per_request=self.hash_ms_per_request,
            failures=self.failures,
        )
        return data


def combine(runs: list[Measure]) -> Measure:
    """The run of median throughput, with every run's failures added up (none is dropped) and the
    spread of the throughput."""
    skipped = next((m for m in runs if m.skipped), None)
    if skipped is not None:
        return skipped
    median = sorted(runs, key=lambda m: m.rate)[len(runs) // 2]
    statuses: dict[str, int] = {}
    for m in runs:
        for status, count in m.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    return replace(
        median,
        statuses=statuses,
        socket_errors=sum(m.socket_errors for m in runs),
        chain_missing=sum(m.chain_missing for m in runs),
        other_cores=max(m.other_cores for m in runs),
        steal_cores=max(m.steal_cores for m in runs),
        spread=(min(m.rate for m in runs), max(m.rate for m in runs)),
        rounds=len(runs),
    )


def describe(m: Measure) -> str:
    if m.skipped:
        return f"skipped: {m.skipped}"
    sql_text = f"{m.sql_per_request:.2f}" if m.sql_per_request is not None else "?"
    return (
        f"{m.rate:8.1f} req/s  p50/p95/p99 {m.p50_ms:.1f}/{m.p95_ms:.1f}/{m.p99_ms:.1f} ms  SQL/req "
        f"{sql_text}  CPU/req {cpu(m)}  RSS {m.rss_mb:.0f} MiB  statuses {m.statuses}"
        + (f"  FAILURES {failures(m)}" if m.failures else "")
    )


def write_lines(directory: Path, name: str, lines: list[str]) -> Path:
    path = directory / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wrk(server: Server, side: Side, values: Path, *, ctx: Context, connections: int, seconds: int) -> Measure:
    path = side.path.format(**ctx.seed)
    args = [f"file={values}", f"threads={connections}", f"mode={side.mode}"]
    if side.method:
        args += [f"method={side.method}", f"path={path}"]
    if side.api_key:
        args.append(f"header=Authorization:{ctx.seed['apiKey']}")
    if side.send:
        args += [f"send={side.send}", f"take={side.take}"]
    if side.renew:
        args.append(f"renew={side.renew}")
    if side.lua_args is not None:
        args += side.lua_args(ctx)
    cmd = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={WRK_TIMEOUT}",
        f"--script={LUA}",
        f"http://{HOST}:{server.port}{path}",
        "--",
        *args,
    ]
    done = subprocess.run(  # noqa: S603 (wrk, no shell)
        cmd, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    return Measure(
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1e3,
        p95_ms=result["p95_us"] / 1e3,
        p99_ms=result["p99_us"] / 1e3,
        statuses=result["statuses"],
        socket_errors=sum(result[k] for k in ("connect", "read", "write", "timeout")),
        chain_missing=result["chain_missing"],
        sql=result["sql"],
        sql_responses=result["sql_responses"],
        hash_us=result.get("hash_us", 0),
    )


def probe(server: Server, side: Side, ctx: Context) -> tuple[int, bytes]:
    """One request the way bench.lua would send it, with a value of its own (mixed: its validate)."""
    value = side.values(ctx, 1)[0]
    path = side.path.format(**ctx.seed)
    headers = {"Authorization": ctx.seed["apiKey"]} if side.api_key else {}
    if side.mode == "mixed":
        access = value.split("\t")[0]
        if side.send == "refreshToken":
            return http_call(
                server.port, "GET", "/api/jwt/validate", headers={"Authorization": f"Bearer {access}"}
            )
        return http_call(server.port, "POST", "/api/token/verify/", {"token": access})
    if side.mode == "bearer":
        headers["Authorization"] = f"Bearer {value}"
    if side.mode == "form":
        return http_call(server.port, side.method, path, headers=headers, form=value)
    body = json.loads(value) if side.mode in ("cycle", "fixed") else None
    if side.mode == "chain":
        body = {side.send: value}
    return http_call(server.port, side.method, path, body, headers=headers)


@dataclass(frozen=True)
class Settings:
    tmp: Path
    connections: int
    duration: int
    warmup: int
    quiet_seconds: float
    retry_busy: bool


def measure(server: Server, side: Side, *, ctx: Context, settings: Settings, profile: Path | None) -> Measure:
    if side.mode != "plain":
        status, raw = probe(server, side, ctx)
        if status == 404:
            return Measure(skipped=f"{side.method} {side.path} answers 404 (not in this build)")
        if not 200 <= status < 300:
            return Measure(
                skipped=f"{side.method} {side.path} probe answered {status}: {raw[:200]!r}", probe_failed=True
            )
    run_once = functools.partial(timed_run, server, side, ctx=ctx, settings=settings)
    quiet_wait(server.name, settings.quiet_seconds)
    result = run_once(profile=profile)
    if settings.retry_busy and result.other_cores > OTHER_LOAD_LIMIT and profile is None:
        print(
            f"  {server.name}: other processes used {result.other_cores:.2f} cores meanwhile; measuring again"
        )
        quiet_wait(server.name, settings.quiet_seconds)
        result = run_once(profile=None)
    return result


def timed_run(
    server: Server, side: Side, *, ctx: Context, settings: Settings, profile: Path | None
) -> Measure:
    """A warm-up, then the measured wrk run, with the CPU used meanwhile by every party."""
    connections, duration = settings.connections, settings.duration
    # Fresh values for each wrk run: a warm-up consumes rotating tokens' chains.
    if settings.warmup:
        values = write_lines(settings.tmp, f"{server.name}-warmup.txt", side.values(ctx, connections))
        wrk(server, side, values, ctx=ctx, connections=connections, seconds=settings.warmup)
    values = write_lines(settings.tmp, f"{server.name}-values.txt", side.values(ctx, connections))
    with contextlib.ExitStack() as stack:
        if profile is not None:
            stack.enter_context(py_spy(server, profile, seconds=duration))
        before, children_before, start = cpu_snapshot(server), children_cpu(), time.monotonic()
        result = wrk(server, side, values, ctx=ctx, connections=connections, seconds=duration)
        after, children_after, window = cpu_snapshot(server), children_cpu(), time.monotonic() - start
    result.rss_mb = server.worker_rss_mb()
    if result.requests:
        used = {g: cpu_used(before[g], after[g]) for g in ("app", "postgres", "machine", "steal")}
        used["wrk"] = children_after - children_before
        result.cpu_ms = {group: 1000 * used[group] / result.requests for group in ("app", "postgres", "wrk")}
        # Whatever else kept the machine busy meanwhile (another job, py-spy), in cores.
        others = used["machine"] - used["app"] - used["postgres"] - used["wrk"]
        result.other_cores = max(0.0, others) / window
        result.steal_cores = used["steal"] / window
    return result


def quiet_wait(name: str, seconds: float) -> None:
    """Wait (bounded) until nothing else keeps the machine busy, so a measure is not shared."""
    deadline, noted = time.monotonic() + seconds, False
    while time.monotonic() < deadline:
        start = machine_busy()
        time.sleep(0.5)
        busy = (machine_busy() - start) * 2
        if busy <= OTHER_LOAD_LIMIT:
            return
        if not noted:
            print(f"  {name}: waiting for a quiet machine ({busy:.2f} cores busy elsewhere)", flush=True)
            noted = True
    print(f"  {name}: the machine stayed busy for {seconds:.0f} s; measuring anyway", flush=True)


# --- ceilings --------------------------------------------------------------------------------------


def plain_lines(ctx: Context, count: int) -> list[str]:
    return ["-"] * count


BARE = Side("GET", "/bare", "plain", plain_lines)
ONE_UPDATE = Side("POST", "/update", "plain", plain_lines)


def per_call_seconds(fn: Callable[[], object], *, seconds: float = 0.2, rounds: int = 5) -> float:
    """Median over `rounds` of the mean time of one call, in batches of about `seconds`."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start > seconds / 10:
            break
        calls *= 2
    calls *= 10
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        results.append((time.perf_counter() - start) / calls)
    return statistics.median(results)


def public_key(ctx: Context, kid: str, algorithm: str) -> Any:
    """The published public key of `kid`, parsed once (as a preloaded verifier would hold it)."""
    status, raw = http_call(ctx.ours.port, "GET", f"/api/jwt/public-key?kid={kid}")
    if status != 200:
        raise BenchError(f"ours: public key {kid} answered {status}: {raw[:200]!r}")
    return jwt.get_algorithm_by_name(algorithm).prepare_key(json.loads(raw)["publicKey"])


def fresh_private_key(algorithm: str) -> Any:
    if algorithm.startswith("HS"):
        return secrets.token_bytes(64)
    if algorithm.startswith("RS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def measured_crypto(ctx: Context, token: str) -> dict[str, Any]:
    """Raw PyJWT verify and sign of this token, µs: verified with its published key parsed once (HMAC
    secrets are never published: the same header and claims re-signed with a fresh 64-byte secret,
    which costs the same), signed again with a fresh key of the same type and size."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    algorithm = header["alg"]
    signer = fresh_private_key(algorithm)
    extra = {k: v for k, v in header.items() if k not in ("alg", "typ")}

    def sign() -> str:
        return jwt.encode(claims, signer, algorithm=algorithm, headers=extra)

    if algorithm.startswith("HS"):
        token, verifier = sign(), signer
    else:
        verifier = public_key(ctx, header["kid"], algorithm)

    def verify() -> object:
        return jwt.decode(token, verifier, algorithms=[algorithm], options={"verify_aud": False})

    verify()
    return {
        "algorithm": algorithm,
        "verify_us": per_call_seconds(verify) * 1e6,
        "sign_us": per_call_seconds(sign) * 1e6,
    }


def _argon2_worker(spec: tuple[int, int, int, float]) -> float:
    memory, time_cost, parallelism, seconds = spec
    hasher = argon2.PasswordHasher(
        time_cost=time_cost, memory_cost=memory, parallelism=parallelism, type=argon2.Type.ID
    )
    stored = hasher.hash("bench password")
    hasher.verify(stored, "bench password")
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        hasher.verify(stored, "bench password")
        count += 1
    return count / (time.perf_counter() - start)


def argon2_rate(parameters: str, *, processes: int, seconds: float) -> float:
    """Verifies per second of `processes` processes doing nothing else, at the stored parameters
    (`argon2id v=19 m=19456,t=2,p=1`)."""
    values = dict(part.split("=") for part in parameters.split()[-1].split(","))
    spec = (int(values["m"]), int(values["t"]), int(values["p"]), seconds)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return float(sum(pool.map(_argon2_worker, [spec] * processes)))


@dataclass
class Ceilings:
    workers: int
    bare: Measure
    update: Measure
    argon2_per_second: float
    argon2_parameters: str
    crypto: dict[str, dict[str, Any]]
    """`validate:<alg>` and `validate:tenant`: verify and sign µs of that token."""
    tokens: dict[str, str] = field(default_factory=dict)
    """The token each `crypto` entry was measured with (paired_ceilings measures it again)."""

    def of(self, name: str) -> tuple[float, str]:
        """(req/s, how it is computed) of a scenario's ceiling."""
        w, bare = self.workers, self.bare.rate
        if name.startswith("validate:"):
            verify = self.crypto[name]["verify_us"] / 1e6
            return 1 / (1 / bare + verify / w), (
                f"1/(1/bare + verify/{w}): bare {bare:.0f}/s, PyJWT {self.crypto[name]['algorithm']} "
                f"verify {verify * 1e6:.0f} µs"
            )
        if name == "refresh":
            return self.update.rate, "bare view + one single-row UPDATE"
        if name == "login":
            return (
                self.argon2_per_second,
                f"{w} processes of raw Argon2id verifies ({self.argon2_parameters})",
            )
        tenant = self.crypto["validate:tenant"]
        sign = tenant["sign_us"] / 1e6
        if name == "sign":
            return 1 / (1 / bare + sign / w), (
                f"1/(1/bare + sign/{w}): PyJWT {tenant['algorithm']} sign {sign * 1e6:.0f} µs"
            )
        if name == "issue":
            both = sign + tenant["verify_us"] / 1e6
            return 1 / (1 / bare + both / w), (
                f"1/(1/bare + (verify+sign)/{w}): PyJWT {tenant['algorithm']} {both * 1e6:.0f} µs"
            )
        if name == "mixed":
            parts = {"validate": "validate:tenant", "refresh": "refresh", "login": "login"}
            total = sum(share / self.of(parts[kind])[0] for kind, share in MIX.items())
            return 1 / total, "1/(0.80/validate + 0.15/refresh + 0.05/login) of the ceilings above"
        raise KeyError(name)


PAIRED_BASES = {"refresh": "update", "login": "argon2"}
"""Which base of a ceiling a scenario re-measures right before its own measure (validate_*: bare)."""


def paired_ceilings(
    ceilings: Ceilings, scenario: Scenario, ctx: Context, settings: Settings
) -> Ceilings | None:
    """The ceilings with the base this scenario's ceiling stands on measured again, now: the bare
    view for validate_*, the view + UPDATE for refresh, Argon2id for login; None for the others.
    This host's speed drifts over minutes (other tenants of the hypervisor; /proc/stat's steal), so
    a ratio of two measures taken minutes apart moves with it: paired, the two share the moment."""
    name = scenario.ceiling
    base = "bare" if name.startswith("validate:") else PAIRED_BASES.get(name)
    if base is None:
        return None
    if base == "argon2":
        quiet_wait("argon2", settings.quiet_seconds)
        rate = argon2_rate(ceilings.argon2_parameters, processes=ceilings.workers, seconds=settings.duration)
        print(f"  ceiling (paired): Argon2id {rate:.1f} verifies/s", flush=True)
        return dataclasses.replace(ceilings, argon2_per_second=rate)
    side = BARE if base == "bare" else ONE_UPDATE
    fresh = measure(ctx.ceiling, side, ctx=ctx, settings=settings, profile=None)
    what = "bare view" if base == "bare" else "bare view + UPDATE"
    crypto = dict(ceilings.crypto)
    if name in ceilings.tokens:  # the signature's cost drifts with the host as well
        crypto[name] = measured_crypto(ctx, ceilings.tokens[name])
        what += f", PyJWT verify {crypto[name]['verify_us']:.0f} µs"
    print(f"  ceiling (paired): {what}, {fresh.rate:.1f} req/s", flush=True)
    return dataclasses.replace(ceilings, crypto=crypto, **{base: fresh})


def measure_ceilings(ctx: Context, settings: Settings, workers: int, parameters: str) -> Ceilings:
    print("ceilings:", flush=True)
    bare = measure(ctx.ceiling, BARE, ctx=ctx, settings=settings, profile=None)
    print(f"  bare DRF view: {describe(bare)}", flush=True)
    update = measure(ctx.ceiling, ONE_UPDATE, ctx=ctx, settings=settings, profile=None)
    print(f"  bare view + one UPDATE: {describe(update)}", flush=True)
    quiet_wait("argon2", settings.quiet_seconds)
    rate = argon2_rate(parameters, processes=workers, seconds=settings.duration)
    print(f"  Argon2id ({parameters}), {workers} processes: {rate:.1f} verifies/s", flush=True)
    crypto = {}
    tokens = {
        f"validate:{alg}": ctx.ours_login(0, app)["token"]
        for alg, app in ctx.seed["validateApplicationIds"].items()
    }
    tokens["validate:tenant"] = ctx.ours_login(0, ctx.seed["reusableApplicationId"])["token"]
    for name, token in tokens.items():
        crypto[name] = measured_crypto(ctx, token)
        print(
            f"  PyJWT {name} ({crypto[name]['algorithm']}): verify {crypto[name]['verify_us']:.1f} µs, "
            f"sign {crypto[name]['sign_us']:.1f} µs",
            flush=True,
        )
    return Ceilings(workers, bare, update, rate, parameters, crypto, tokens)


# --- CPU accounting --------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used so far) of a process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # ppid, utime + stime


def postgres_pids(database: str) -> list[int]:
    """The backends serving `database` and PostgreSQL's background processes (WAL writer,
    checkpointer...), not the backends of other databases."""
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = %s OR backend_type <> 'client backend')"
            " AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return [int(row[0]) for row in rows]


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores; not idle, not waiting for I/O),
    steal included (the hypervisor running someone else on our cores)."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLOCK_TICKS


def machine_steal() -> float:
    """CPU seconds the hypervisor has taken from this machine's cores so far (/proc/stat)."""
    return int(Path("/proc/stat").read_text().splitlines()[0].split()[8]) / CLOCK_TICKS


def cpu_snapshot(server: Server) -> dict[str, dict[int, float]]:
    """CPU seconds used so far, by pid: the server's processes (gunicorn's master and workers)
    and PostgreSQL's for the server's database; plus the machine's busy seconds under pid 0."""
    groups: dict[str, dict[int, float]] = {
        "app": {},
        "postgres": {},
        "machine": {0: machine_busy()},
        "steal": {0: machine_steal()},
    }
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (found := process_cpu(int(entry.name))):
            if server.process.pid in (int(entry.name), found[0]):
                groups["app"][int(entry.name)] = found[1]
    for pid in postgres_pids(server.database):
        if found := process_cpu(pid):
            groups["postgres"][pid] = found[1]
    return groups


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two snapshots by the processes alive at the second."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def children_cpu() -> float:
    """CPU seconds of the waited-for child processes so far (here: the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- profiling (--profile) -------------------------------------------------------------------------


@contextlib.contextmanager
def py_spy(server: Server, output: Path, *, seconds: int) -> Iterator[None]:
    """Sample the server's workers (idle frames included, so waits on PostgreSQL count) while the
    block runs, into `output` as collapsed stacks (py-spy's raw format)."""
    cmd = [
        str(BIN / "py-spy"),
        "record",
        f"--pid={server.process.pid}",
        "--subprocesses",
        "--idle",
        "--nonblocking",
        "--rate=250",
        f"--duration={seconds}",
        "--format=raw",
        f"--output={output}",
    ]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    try:
        yield
    finally:
        try:
            spy.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def profile_summary(path: Path, top: int) -> str:
    """The functions that most of the request time is spent in (inclusive), as a share of the
    samples that are inside a request (inside Django's WSGI handler)."""
    if not path.exists():
        return f"  (no profile written to {path})"
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if "WSGIHandler.__call__" not in stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        # "function (path/file.py:123)" -> "path/file.py:function", line numbers merged; only the
        # frames from Django's WSGI handler on (gunicorn's are in every sample).
        frames = []
        for frame in stack.split(";"):
            name, _, where = frame.partition(" (")
            if frames or "WSGIHandler.__call__" in name:
                frames.append(f"{where.rsplit(':', 1)[0]}:{name}")
        if not frames:
            continue
        for name in set(frames):
            inclusive[name] = inclusive.get(name, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    if not total:
        return "  (no request samples)"
    lines = [f"  {total} request samples; inclusive share (self share)"]
    for name, count in sorted(inclusive.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f}% ({100 * own.get(name, 0) / total:4.1f}%)  {name}")
    return "\n".join(lines)


# --- output ----------------------------------------------------------------------------------------


# --- output ----------------------------------------------------------------------------------------


def git_commit() -> str:
    try:
        commit = run(["git", "rev-parse", "--short", "HEAD"], env=dict(os.environ)).strip()
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no"], env=dict(os.environ)).strip()
    except (BenchError, OSError):
        return "unknown"
    return f"{commit}{' (+ uncommitted changes)' if dirty else ''}"


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)  # noqa: S607
    return (done.stdout + done.stderr).split("[")[0].strip()


def latency(m: Measure) -> str:
    return f"{m.p50_ms:.1f}/{m.p95_ms:.1f}/{m.p99_ms:.1f}"


def failures(m: Measure) -> str:
    if not m.failures:
        return "0"
    details = [f"{s}:{n}" for s, n in sorted(m.statuses.items()) if not s.startswith("2")]
    if m.socket_errors:
        details.append(f"socket:{m.socket_errors}")
    if m.chain_missing:
        details.append(f"no-token:{m.chain_missing}")
    return f"{m.failures} ({' '.join(details)})"


def cpu(m: Measure) -> str:
    if not m.cpu_ms:
        return "-"
    c = m.cpu_ms
    hashed = m.hash_ms_per_request
    of_app = f" (the password hash {hashed:.2f} of it)" if hashed is not None else ""
    return (
        f"{c['app'] + c['postgres']:.2f} ms (app {c['app']:.2f}{of_app} + pg {c['postgres']:.2f}; "
        f"wrk {c['wrk']:.2f}); other load {m.other_cores:.2f} cores (steal {m.steal_cores:.2f})"
    )


# --- targets and results ---------------------------------------------------------------------------

P99_LIMIT_MS = 50.0
"""p99 target at the stated concurrency, for every scenario but login (and the mix, which logs in)."""


def targets_of(name: str) -> dict[str, float]:
    """Issue 16's targets (2 workers, same run): minimum ours/ceiling, ours/peer, req/s."""
    if name.startswith("validate_"):
        return {"ceiling": 0.8, "peer": 1.5}
    return {
        "refresh_onetime": {"ceiling": 0.7, "peer": 2.5},
        "login": {"ceiling": 0.85},
        "client_credentials": {"rate": 500.0},
    }.get(name, {})


def verdict(name: str, ours: Measure, ratios: dict[str, float | None]) -> list[str]:
    """The targets this scenario missed, each with by how much; empty when all were met."""
    missed = []
    for kind, minimum in targets_of(name).items():
        value = ours.rate if kind == "rate" else ratios.get(kind)
        if value is not None and value < minimum:
            unit = "/s" if kind == "rate" else f"x {kind}"
            missed.append(
                f"{kind} {value:.2f}{unit} < {minimum:g} ({100 * (1 - value / minimum):.0f}% short)"
            )
    if ours.failures:
        missed.append(f"{ours.failures} errors")
    if name not in ("login", "mixed") and ours.p99_ms >= P99_LIMIT_MS:
        missed.append(f"p99 {ours.p99_ms:.1f} ms >= {P99_LIMIT_MS:g}")
    return missed


def scenario_result(
    scenario: Scenario,
    ours: Measure,
    peer: Measure | None,
    ratios: list[float],
    ceilings: Ceilings,
    ceiling_ratios: list[float] | None = None,
    paired: list[float] | None = None,
) -> dict[str, Any]:
    """With `paired` (the scenario's ceiling measured again right before each of its rounds), the
    ceiling shown is their median and ours/ceiling the median of the rounds' ratios."""
    ceiling, formula = ceilings.of(scenario.ceiling)
    if paired:
        ceiling = statistics.median(paired)
        formula += "; base measured right before each round (paired)"
    per_peer = statistics.median(ratios) if ratios else None
    if ceiling_ratios:
        per_ceiling: float | None = statistics.median(ceiling_ratios)
    else:
        per_ceiling = ours.rate / ceiling if ceiling and not ours.skipped else None
    result = {
        "name": scenario.name,
        "note": scenario.note,
        "ours": ours.as_json(),
        "peer": peer.as_json() if peer is not None else None,
        "peer_algorithm": scenario.peer_algorithm,
        "ours_per_peer": per_peer,
        "ours_per_peer_range": [min(ratios), max(ratios)] if len(ratios) > 1 else None,
        "ceiling": {"name": scenario.ceiling, "rate": ceiling, "formula": formula, "paired": bool(paired)},
        "ours_per_ceiling_range": [min(ceiling_ratios), max(ceiling_ratios)]
        if ceiling_ratios and len(ceiling_ratios) > 1
        else None,
        "ours_per_ceiling": per_ceiling,
        "targets": targets_of(scenario.name),
    }
    if not ours.skipped:
        result["missed"] = verdict(scenario.name, ours, {"peer": per_peer, "ceiling": per_ceiling})
    return result


def machine() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, IndexError):
        memory = f"{int(Path('/proc/meminfo').read_text().split()[1]) // 1024} MiB"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- main ------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    env_duration = int(os.environ.get("BENCH_DURATION") or 8)
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("BENCH_WORKERS") or 2),
        help="gunicorn sync workers of every server (env BENCH_WORKERS; default 2)",
    )
    parser.add_argument(
        "--duration",
        type=int,
        default=env_duration,
        help="seconds measured per scenario and side (env BENCH_DURATION; default 8)",
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each measure")
    parser.add_argument("--quick", action="store_true", help="3 s measures after 1 s warm-ups (a smoke run)")
    parser.add_argument(
        "--connections",
        type=int,
        default=4,
        help="wrk connections, one per wrk thread (-tN -cN) so each holds its own token chain",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure each side this many times, alternating ours and peer; the table shows the median "
        "run, the median of the rounds' ours/peer ratios and their ranges (use an odd number)",
    )
    parser.add_argument("--users", type=int, default=64, help="users seeded on each side")
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios: " + ",".join(s.name for s in SCENARIOS)
    )
    parser.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default="ES256",
        help="the tenant's signing algorithm (every scenario but validate_*) and the peer's for them",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10,
        help="seconds to wait at most for a quiet machine before each measure",
    )
    parser.add_argument(
        "--no-paired",
        dest="paired",
        action="store_false",
        help="compare validate_*, refresh and login with the ceilings measured once at the start, not "
        "with their base measured again right before each of their rounds (paired, the default)",
    )
    parser.add_argument(
        "--retry-busy",
        action="store_true",
        help="measure again when other processes used more than 0.25 core meanwhile",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json", help="where the JSON goes")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the servers with py-spy during the measured runs and write collapsed stacks to "
        "DIR; the sampler takes CPU, so figures of a profiled run are not comparable",
    )
    parser.add_argument("--profile-top", type=int, default=30, help="functions listed per profile")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup = 3, 1
    if not (
        1 <= args.duration <= 300
        and 0 <= args.warmup <= 60
        and 1 <= args.connections <= 64
        and 1 <= args.rounds <= 9
        and 1 <= args.workers <= 64
    ):
        parser.error("--duration 1..300, --warmup 0..60, --connections 1..64, --rounds 1..9, --workers 1..64")
    args.users = max(args.users, args.connections)
    if args.profile:
        if not (BIN / "py-spy").exists():
            parser.error(f"--profile needs {BIN / 'py-spy'} (pip install -e '.[bench]')")
        args.profile.mkdir(parents=True, exist_ok=True)
    names = {s.name for s in SCENARIOS}
    args.only = [x.strip() for x in args.only.split(",") if x.strip()] or [s.name for s in SCENARIOS]
    if unknown := set(args.only) - names:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP end the run through the `finally` that stops the servers (SIGINT
    included: a shell starting this in the background would otherwise have it ignored)."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {stop: signal.signal(stop, handler) for stop in stops}
    try:
        yield
    finally:
        for stop, was in previous.items():
            signal.signal(stop, was)


class Peers:
    """The simplejwt peer, one server per signing algorithm, started when a scenario needs it; only
    the default algorithm's keeps running between scenarios."""

    def __init__(self, *, default: str, tmp: Path, workers: int, servers: list[Server]) -> None:
        self.default, self.tmp, self.workers, self.servers = default, tmp, workers, servers
        self.running: dict[str, Server] = {}

    def get(self, algorithm: str) -> Server:
        for name in [n for n in self.running if n not in (algorithm, self.default)]:
            self.running.pop(name).stop()
        if algorithm not in self.running:
            env = peer_environment(algorithm, self.tmp / f"peer-{algorithm}")
            server = gunicorn_start(
                f"peer {algorithm}",
                "peer.wsgi:application",
                cwd=PEER_DIR,
                env=env,
                log=self.tmp / f"peer-{algorithm}.log",
                database=PEER_DB,
                workers=self.workers,
            )
            self.servers.append(server)
            wait_until_up(server)
            self.running[algorithm] = server
        return self.running[algorithm]


def bench(args: argparse.Namespace, tmp: Path, servers: list[Server]) -> dict[str, Any]:
    commit = git_commit()
    started = datetime.now(UTC)
    print(f"commit      {commit}")
    box = machine()
    print(
        f"machine     {box['cpus']} CPUs ({box['cpu_model']}), {box['memory']}, {box['system']}, "
        f"Python {box['python']}, load average {box['load_average_at_start']}"
    )
    postgres = databases_reset()
    print(
        f"postgresql  {postgres} on {HOST}:5432 ({OURS_DB}, {PEER_DB}, {CEILING_DB}: dropped and re-created)"
    )
    versions = {
        name: version(package)
        for name, package in (
            ("Django", "Django"),
            ("DRF", "djangorestframework"),
            ("simplejwt", "djangorestframework-simplejwt"),
            ("PyJWT", "PyJWT"),
            ("gunicorn", "gunicorn"),
            ("argon2-cffi", "argon2-cffi"),
        )
    }
    versions["wrk"] = wrk_version()
    print("versions    " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(
        f"gunicorn    --workers {args.workers} --threads {THREADS} (sync workers: one request per worker "
        "at a time, connection closed after each response), access log off, every server"
    )
    print(
        f"wrk         -t{args.connections} -c{args.connections} (one connection per thread) "
        f"-d{args.duration}s after a {args.warmup}s warm-up, --timeout {WRK_TIMEOUT}, ours then peer, "
        f"{args.rounds} round(s)"
    )

    ours_env = ours_environment()
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=ours_env)
    run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=peer_environment("HS256", tmp), cwd=PEER_DIR
    )
    users = [
        {
            "email": f"user{i}@bench.example.com",
            "username": f"user{i}",
            "password": "pw-" + secrets.token_hex(16),
        }
        for i in range(args.users)
    ]
    seed_input = {
        "algorithm": args.algorithm,
        "users": [{"email": u["email"], "password": u["password"]} for u in users],
    }
    seed = json.loads(
        run([PYTHON, str(BENCH / "seed_identity.py")], env=ours_env, stdin=json.dumps(seed_input))
    )
    peer_users = [{"username": u["username"], "password": u["password"]} for u in users]
    run(
        [PYTHON, str(PEER_DIR / "seed_users.py")],
        env=peer_environment("HS256", tmp),
        cwd=PEER_DIR,
        stdin=json.dumps(peer_users),
    )
    hashes = {
        "ours": stored_hash_parameters(OURS_DB, "identity_user"),
        "peer": stored_hash_parameters(PEER_DB, "auth_user"),
    }
    print(
        f"hasher      ours stored {hashes['ours']}; peer (its own copy of the class) stored {hashes['peer']}"
    )
    print(
        f"signing     tenant {seed['signingAlgorithm']}; validate_* one application per algorithm; "
        f"the peer re-started per algorithm; {args.users} users each side, same passwords"
    )

    common = {"workers": args.workers}
    ours = gunicorn_start(
        "ours",
        "config.wsgi:application",
        cwd=ROOT,
        env=ours_env,
        log=tmp / "ours.log",
        database=OURS_DB,
        **common,
    )
    servers.append(ours)
    ceiling = gunicorn_start(
        "ceiling",
        "ceiling.wsgi:application",
        cwd=CEILING_DIR,
        env=ceiling_environment(),
        log=tmp / "ceiling.log",
        database=CEILING_DB,
        **common,
    )
    servers.append(ceiling)
    for server in (ours, ceiling):
        wait_until_up(server)
    peers = Peers(default=args.algorithm, tmp=tmp, workers=args.workers, servers=servers)
    print(f"servers     ours http://{HOST}:{ours.port}, ceiling http://{HOST}:{ceiling.port}\n")

    settings = Settings(
        tmp=tmp,
        connections=args.connections,
        duration=args.duration,
        warmup=args.warmup,
        quiet_seconds=args.quiet_wait,
        retry_busy=args.retry_busy,
    )
    ctx = Context(ours=ours, peer=None, ceiling=ceiling, seed=seed, users=users)
    ceilings = measure_ceilings(ctx, settings, args.workers, hashes["ours"])
    print()
    results = []
    for scenario in SCENARIOS:
        if scenario.name not in args.only:
            continue
        print(f"{scenario.name}: {scenario.note}", flush=True)
        ctx.peer = peers.get(scenario.peer_algorithm or args.algorithm) if scenario.peer else None
        runs: dict[str, list[Measure]] = {"ours": [], "peer": []}
        paired: list[float] = []
        for round_ in range(1, args.rounds + 1):
            label = f" (round {round_}/{args.rounds})" if args.rounds > 1 else ""
            for name, server, side in (("ours", ours, scenario.ours), ("peer", ctx.peer, scenario.peer)):
                if side is None or server is None:
                    continue
                pair = (
                    paired_ceilings(ceilings, scenario, ctx, settings)
                    if name == "ours" and args.paired
                    else None
                )
                profile = (
                    args.profile / f"{scenario.name}-{name}.txt" if args.profile and round_ == 1 else None
                )
                m = measure(server, side, ctx=ctx, settings=settings, profile=profile)
                runs[name].append(m)
                if pair is not None and not m.skipped:
                    paired.append(pair.of(scenario.ceiling)[0])
                print(f"  {name}{label}: {describe(m)}", flush=True)
                if profile is not None and not m.skipped:
                    print(f"  profile of {name} ({profile}):\n{profile_summary(profile, args.profile_top)}")
        ratios = [
            o.rate / p.rate for o, p in zip(runs["ours"], runs["peer"], strict=False) if p.rate and o.rate
        ]
        peer_measure = combine(runs["peer"]) if runs["peer"] else None
        ceiling_ratios = [o.rate / c for o, c in zip(runs["ours"], paired, strict=False) if c and o.rate]
        results.append(
            scenario_result(
                scenario, combine(runs["ours"]), peer_measure, ratios, ceilings, ceiling_ratios, paired
            )
        )
        for server in servers:
            if server.process.poll() is not None and server.process.returncode not in (0, -signal.SIGTERM):
                raise BenchError(f"{server.name} died during {scenario.name}:\n{server.log_tail()}")
    busy = any(
        max(s["ours"].get("other_cores", 0), (s["peer"] or {}).get("other_cores", 0)) > OTHER_LOAD_LIMIT
        for s in results
    )
    logs = {server.name: server.log_since_ready() for server in servers if server.log.exists()}
    return {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds()),
        "commit": commit,
        "machine": {**box, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "postgresql": postgres,
        "versions": versions,
        "settings": {
            "workers": args.workers,
            "threads": THREADS,
            "connections": args.connections,
            "duration": args.duration,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "algorithm": args.algorithm,
            "users": args.users,
            "password_hash": hashes["ours"],
        },
        "ceilings": {
            "bare": ceilings.bare.as_json(),
            "update": ceilings.update.as_json(),
            "argon2_per_second": ceilings.argon2_per_second,
            "crypto": ceilings.crypto,
        },
        "scenarios": results,
        "busy_machine": busy,
        "server_logs": {name: text for name, text in logs.items() if text.strip()},
    }


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk).", file=sys.stderr)
        return 2
    servers: list[Server] = []
    with interruptible(), tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        try:
            results = bench(args, Path(tmp), servers)
        except BenchError as error:
            print(f"\nbench failed: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
        finally:
            for server in servers:
                server.stop()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    print(report.markdown(results))
    for name, text in results["server_logs"].items():
        print(f"\n{name} server log during the run (last lines):\n{text}")
    print(f"\nwritten: {args.output} (bench/report.py makes the chart and the README block)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
