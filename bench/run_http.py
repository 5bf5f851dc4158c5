"""HTTP benchmark: the identity service next to djangorestframework-simplejwt, both served by gunicorn
on loopback and driven by wrk, measured in the same run. It prints figures; it asserts nothing.

    .venv/bin/python bench/run_http.py [--duration 10] [--warmup 2] [--connections 8] [--rounds 1]
                                       [--only login,refresh_reusable] [--algorithm ES256]

Each run drops and re-creates the PostgreSQL databases bench_identity and bench_simplejwt on
127.0.0.1:5432 (user postgres), migrates and seeds both, starts both servers with the same gunicorn
settings on free 127.0.0.1 ports, runs every scenario for ours then the peer with the same wrk
settings, prints a table, and stops the servers (also on Ctrl-C and errors). Needs `wrk` on PATH
(apt-get install wrk). See bench/README.md for what each scenario compares.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.client
import json
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
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEER_DIR = BENCH / "peers" / "simplejwt_peer"
LUA = BENCH / "wrk" / "bench.lua"
BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "python").exists() else Path(sys.executable).parent
PYTHON = str(BIN / "python")
HOST = "127.0.0.1"
PG = {"host": HOST, "port": 5432, "user": "postgres"}
OURS_DB, PEER_DB = "bench_identity", "bench_simplejwt"
WORKERS, THREADS = 2, 1
WRK_TIMEOUT = "10s"
ALGORITHMS = ("ES256", "RS256", "HS256")
OTHER_LOAD_LIMIT = 0.25
"""Cores used by processes outside the benchmark above which a measure is flagged."""


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
    name: str, app: str, *, cwd: Path, env: dict[str, str], log: Path, database: str
) -> Server:
    port = free_port()
    cmd = [
        str(BIN / "gunicorn"),
        app,
        f"--bind={HOST}:{port}",
        f"--workers={WORKERS}",
        f"--threads={THREADS}",
        "--log-level=warning",  # no --access-logfile: access logging stays off
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
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


def databases_reset() -> str:
    """Drop and create both bench databases; return the server version."""
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as connection:
        for name in (OURS_DB, PEER_DB):
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        row = connection.execute("SHOW server_version").fetchone()
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
    prefixes = ("DJANGO_", "DATABASE_", "IDENTITY_", "PEER_")
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
    }


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
        run([PYTHON, str(PEER_DIR / "make_keys.py"), algorithm, str(keys)], env=env, cwd=PEER_DIR)
        env["PEER_JWT_PRIVATE_KEY_FILE"] = str(keys / "private.pem")
        env["PEER_JWT_PUBLIC_KEY_FILE"] = str(keys / "public.pem")
    return env


# --- the two sides' credentials --------------------------------------------------------------------


@dataclass
class Context:
    ours: Server
    peer: Server
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


def ours_personal_access_tokens(ctx: Context, count: int) -> list[str]:
    """A fresh Unlimited personal access token of each user in turn (issue 12), made through the API
    the way a script's owner would (`POST /api/user/{id}/access-token`)."""
    tokens = []
    for index in range(count):
        user_id = ctx.seed["userIds"][index % len(ctx.seed["userIds"])]
        body = {"name": f"bench-{secrets.token_hex(6)}", "JWTTokenExpiry": "Unlimited"}
        status, raw = http_call(
            ctx.ours.port,
            "POST",
            f"/api/user/{user_id}/access-token",
            body,
            headers={"Authorization": ctx.seed["apiKey"]},
        )
        if status != 200:
            raise BenchError(f"ours: access-token creation answered {status}: {raw[:300]!r}")
        tokens.append(str(json.loads(raw)["JWTToken"]))
    return tokens


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


def peer_refresh_tokens(ctx: Context, count: int) -> list[str]:
    return [ctx.peer_login(i)["refresh"] for i in range(count)]


def peer_verify_bodies(ctx: Context, count: int) -> list[str]:
    return [json.dumps({"token": ctx.peer_login(i)["access"]}) for i in range(count)]


# --- scenarios -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    method: str
    path: str
    mode: str
    """bench.lua's mode: cycle, fixed, form, bearer or chain."""
    values: Values
    api_key: bool = False
    send: str = ""
    take: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    ours: Side
    peer: Side | None
    """None when the peer has no such endpoint (ours is measured alone)."""
    note: str
    baseline_on_ours: bool = False
    """The "peer" side is sent to our own server: the scenario compares two of our paths."""


SCENARIOS = [
    Scenario(
        name="login",
        ours=Side("POST", "/api/login", "cycle", ours_login_bodies, api_key=True),
        peer=Side("POST", "/api/token/", "cycle", peer_login_bodies),
        note="password login (Argon2id both sides) issuing an access and a refresh token",
    ),
    Scenario(
        name="refresh_reusable",
        ours=Side("POST", "/api/jwt/refresh", "fixed", ours_reusable_bodies),
        peer=Side(
            "POST", "/api/token/refresh/", "chain", peer_refresh_tokens, send="refresh", take="refresh"
        ),
        note="ours: Reusable policy, one fixed refresh token per connection; peer: its rotating "
        "refresh (ROTATE_REFRESH_TOKENS + BLACKLIST_AFTER_ROTATION is the only refresh it has)",
    ),
    Scenario(
        name="refresh_onetime",
        ours=Side(
            "POST",
            "/api/jwt/refresh",
            "chain",
            ours_refresh_tokens("oneTimeUseApplicationId"),
            send="refreshToken",
            take="refreshToken",
        ),
        peer=Side(
            "POST", "/api/token/refresh/", "chain", peer_refresh_tokens, send="refresh", take="refresh"
        ),
        note="rotating refresh on both sides: each connection sends the token of its previous response",
    ),
    Scenario(
        name="validate",
        ours=Side("GET", "/api/jwt/validate", "bearer", ours_access_tokens),
        peer=Side("POST", "/api/token/verify/", "fixed", peer_verify_bodies),
        note="access-token validation (ours: Authorization: Bearer; peer: TokenVerifyView)",
    ),
    Scenario(
        name="client_credentials",
        ours=Side("POST", "/connect/token", "form", ours_client_credentials_bodies),
        peer=None,
        note="OAuth2 client-credentials grant, secret in the form body (seed 002); simplejwt has no "
        "such grant, so ours is measured alone (target: 500 grants/s with 2 workers)",
    ),
    Scenario(
        name="pat_validate",
        ours=Side("GET", "/api/jwt/validate", "bearer", ours_personal_access_tokens),
        peer=Side("GET", "/api/jwt/validate", "bearer", ours_access_tokens),
        note="ours against ours: validating a personal access token (Unlimited, seed 000) next to "
        "validating a user's access token, both on our server; the peer columns are the user token "
        "(issue 12's aim: within 10%)",
        baseline_on_ours=True,
    ),
]
NO_PEER = "the peer has no such endpoint"


@dataclass
class Measure:
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: int = 0
    chain_missing: int = 0
    skipped: str = ""
    probe_failed: bool = False
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU milliseconds per request: the server's processes, PostgreSQL's, wrk's."""
    other_cores: float = 0.0
    spread: tuple[float, float] = (0.0, 0.0)
    """Lowest and highest throughput over the rounds."""
    rounds: int = 1

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> int:
        """Non-2xx answers, socket errors and chain responses without a new token."""
        bad = sum(count for status, count in self.statuses.items() if not status.startswith("2"))
        return bad + self.socket_errors + self.chain_missing


@dataclass(frozen=True)
class Row:
    scenario: Scenario
    ours: Measure
    peer: Measure
    ratios: list[float]
    """ours/peer req/s of each round, ours and the peer measured back to back."""


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
        spread=(min(m.rate for m in runs), max(m.rate for m in runs)),
        rounds=len(runs),
    )


def describe(m: Measure) -> str:
    if m.skipped:
        return f"skipped: {m.skipped}"
    return (
        f"{m.rate:8.1f} req/s  p50 {m.p50_ms:.1f} ms  p99 {m.p99_ms:.1f} ms  CPU/req {cpu(m)}  "
        f"statuses {m.statuses}" + (f"  FAILURES {failures(m)}" if m.failures else "")
    )


def write_lines(directory: Path, name: str, lines: list[str]) -> Path:
    path = directory / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wrk(server: Server, side: Side, values: Path, *, ctx: Context, connections: int, seconds: int) -> Measure:
    args = [
        f"file={values}",
        f"threads={connections}",
        f"mode={side.mode}",
        f"method={side.method}",
        f"path={side.path}",
    ]
    if side.api_key:
        args.append(f"header=Authorization:{ctx.seed['apiKey']}")
    if side.mode == "chain":
        args += [f"send={side.send}", f"take={side.take}"]
    cmd = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={WRK_TIMEOUT}",
        f"--script={LUA}",
        f"http://{HOST}:{server.port}{side.path}",
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
        p99_ms=result["p99_us"] / 1e3,
        statuses=result["statuses"],
        socket_errors=sum(result[k] for k in ("connect", "read", "write", "timeout")),
        chain_missing=result["chain_missing"],
    )


def probe(server: Server, side: Side, ctx: Context) -> tuple[int, bytes]:
    """One request the way bench.lua would send it, with a value of its own."""
    value = side.values(ctx, 1)[0]
    headers = {"Authorization": ctx.seed["apiKey"]} if side.api_key else {}
    if side.mode == "bearer":
        headers["Authorization"] = f"Bearer {value}"
    if side.mode == "form":
        return http_call(server.port, side.method, side.path, headers=headers, form=value)
    body = json.loads(value) if side.mode in ("cycle", "fixed") else None
    if side.mode == "chain":
        body = {side.send: value}
    return http_call(server.port, side.method, side.path, body, headers=headers)


def measure(
    server: Server,
    side: Side,
    *,
    ctx: Context,
    tmp: Path,
    connections: int,
    duration: int,
    warmup: int,
    profile: Path | None,
) -> Measure:
    status, raw = probe(server, side, ctx)
    if status == 404:
        return Measure(skipped=f"{side.method} {side.path} answers 404 (not in this build)")
    if not 200 <= status < 300:
        return Measure(
            skipped=f"{side.method} {side.path} probe answered {status}: {raw[:200]!r}", probe_failed=True
        )
    run_once = functools.partial(
        timed_run, server, side, ctx=ctx, tmp=tmp, connections=connections, duration=duration, warmup=warmup
    )
    quiet_wait(server.name)
    result = run_once(profile=profile)
    if result.other_cores > OTHER_LOAD_LIMIT and profile is None:
        print(
            f"  {server.name}: other processes used {result.other_cores:.2f} cores meanwhile; measuring again"
        )
        quiet_wait(server.name)
        result = run_once(profile=None)
    return result


def timed_run(
    server: Server,
    side: Side,
    *,
    ctx: Context,
    tmp: Path,
    connections: int,
    duration: int,
    warmup: int,
    profile: Path | None,
) -> Measure:
    """A warm-up, then the measured wrk run, with the CPU used meanwhile by every party."""
    # Fresh values for each wrk run: a warm-up consumes rotating tokens' chains.
    if warmup:
        values = write_lines(tmp, f"{server.name}-warmup.txt", side.values(ctx, connections))
        wrk(server, side, values, ctx=ctx, connections=connections, seconds=warmup)
    values = write_lines(tmp, f"{server.name}-values.txt", side.values(ctx, connections))
    with contextlib.ExitStack() as stack:
        if profile is not None:
            stack.enter_context(py_spy(server, profile, seconds=duration))
        before, children_before, start = cpu_snapshot(server), children_cpu(), time.monotonic()
        result = wrk(server, side, values, ctx=ctx, connections=connections, seconds=duration)
        after, children_after, window = cpu_snapshot(server), children_cpu(), time.monotonic() - start
    if result.requests:
        used = {group: cpu_used(before[group], after[group]) for group in ("app", "postgres", "machine")}
        used["wrk"] = children_after - children_before
        result.cpu_ms = {group: 1000 * used[group] / result.requests for group in ("app", "postgres", "wrk")}
        # Whatever else kept the machine busy meanwhile (another job, py-spy), in cores.
        others = used["machine"] - used["app"] - used["postgres"] - used["wrk"]
        result.other_cores = max(0.0, others) / window
    return result


def quiet_wait(name: str, seconds: float = 90) -> None:
    """Wait (bounded) until nothing else keeps the machine busy, so a measure is not shared."""
    deadline, noted = time.monotonic() + seconds, False
    while time.monotonic() < deadline:
        start = machine_busy()
        time.sleep(1)
        busy = machine_busy() - start
        if busy <= OTHER_LOAD_LIMIT:
            return
        if not noted:
            print(f"  {name}: waiting for a quiet machine ({busy:.2f} cores busy elsewhere)", flush=True)
            noted = True
    print(f"  {name}: the machine stayed busy for {seconds:.0f} s; measuring anyway", flush=True)


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
    """CPU seconds the whole machine has been busy (all cores; not idle, not waiting for I/O)."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLOCK_TICKS


def cpu_snapshot(server: Server) -> dict[str, dict[int, float]]:
    """CPU seconds used so far, by pid: the server's processes (gunicorn's master and workers)
    and PostgreSQL's for the server's database; plus the machine's busy seconds under pid 0."""
    groups: dict[str, dict[int, float]] = {"app": {}, "postgres": {}, "machine": {0: machine_busy()}}
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


def rate(m: Measure) -> str:
    if m.rounds == 1:
        return f"{m.rate:.1f}"
    return f"{m.rate:.1f} ({m.spread[0]:.0f}-{m.spread[1]:.0f})"


def latency(m: Measure) -> str:
    return f"{m.p50_ms:.1f}/{m.p99_ms:.1f}"


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
    return (
        f"{c['app'] + c['postgres']:.2f} ms (app {c['app']:.2f} + pg {c['postgres']:.2f}; "
        f"wrk {c['wrk']:.2f}); other load {m.other_cores:.2f} cores"
    )


def render(lines: list[tuple[str, ...]]) -> list[str]:
    """A Markdown table, the first line being the head."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for n, line in enumerate(lines):
        out.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return out


def cpu_table(rows: list[Row]) -> str:
    lines: list[tuple[str, ...]] = [("scenario", "ours CPU per request", "peer CPU per request")]
    for row in rows:
        scenario, ours, peer = row.scenario, row.ours, row.peer
        if scenario.peer is None and not ours.skipped:
            lines.append((scenario.name, cpu(ours), "-"))
        elif not (ours.skipped or peer.skipped):
            lines.append((scenario.name, cpu(ours), cpu(peer)))
    return "\n".join(render(lines))


def table(rows: list[Row]) -> str:
    head = (
        "scenario",
        "ours req/s",
        "peer req/s",
        "ours/peer",
        "ours p50/p99 ms",
        "peer p50/p99 ms",
        "ours errors",
        "peer errors",
    )
    lines: list[tuple[str, ...]] = [head]
    notes = []
    for row in rows:
        scenario, ours, peer = row.scenario, row.ours, row.peer
        if scenario.peer is None and not ours.skipped:
            flag = " !! ERRORS" if ours.failures else ""
            if ours.other_cores > OTHER_LOAD_LIMIT:
                flag += " !! BUSY MACHINE"
            lines.append(
                (scenario.name + flag, rate(ours), "-", "-", latency(ours), "-", failures(ours), "-")
            )
            continue
        if ours.skipped or peer.skipped:
            failed = ours.probe_failed or peer.probe_failed
            lines.append((scenario.name + (" !! PROBE FAILED" if failed else ""), "skipped", *[""] * 6))
            notes.append(f"{scenario.name}: skipped: {ours.skipped if ours.skipped else peer.skipped}")
            continue
        if scenario.baseline_on_ours:
            notes.append(f"{scenario.name}: the peer columns are our own server ({scenario.note})")
        ratios = sorted(row.ratios)
        ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
        if len(ratios) > 1:
            ratio += f" ({ratios[0]:.2f}-{ratios[-1]:.2f})"
        flag = " !! ERRORS" if ours.failures or peer.failures else ""
        if max(ours.other_cores, peer.other_cores) > OTHER_LOAD_LIMIT:
            flag += " !! BUSY MACHINE"
        lines.append(
            (
                scenario.name + flag,
                rate(ours),
                rate(peer),
                ratio,
                latency(ours),
                latency(peer),
                failures(ours),
                failures(peer),
            )
        )
    out = render(lines)
    if any("BUSY" in line[0] for line in lines):
        notes.append(
            f"BUSY MACHINE: something else used more than {OTHER_LOAD_LIMIT} core during a measure; "
            "see the CPU table and run again on a quiet machine."
        )
    if notes:
        out += ["", *notes]
    return "\n".join(out)


# --- main ------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per scenario and side")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each measure")
    parser.add_argument(
        "--connections",
        type=int,
        default=8,
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
        "--algorithm", choices=ALGORITHMS, default="ES256", help="signing algorithm, both sides"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample both servers with py-spy (pip install py-spy) during the measured runs and write "
        "collapsed stacks to DIR; the sampler takes CPU, so figures of a profiled run are not comparable",
    )
    parser.add_argument("--profile-top", type=int, default=30, help="functions listed per profile")
    args = parser.parse_args()
    if not (
        1 <= args.duration <= 300
        and 0 <= args.warmup <= 60
        and 1 <= args.connections <= 64
        and 1 <= args.rounds <= 9
    ):
        parser.error("--duration 1..300, --warmup 0..60, --connections 1..64, --rounds 1..9")
    args.users = max(args.users, args.connections)
    if args.profile:
        if not (BIN / "py-spy").exists():
            parser.error(f"--profile needs {BIN / 'py-spy'} (pip install py-spy)")
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


def bench(args: argparse.Namespace, tmp: Path, servers: list[Server]) -> None:
    print(f"commit      {git_commit()}")
    system = f"{platform.system()} {platform.release()}"
    print(f"machine     {os.cpu_count()} CPUs, {system}, Python {platform.python_version()}")
    postgres = databases_reset()
    print(f"postgresql  {postgres} on {HOST}:5432 (databases {OURS_DB}, {PEER_DB}: dropped and re-created)")
    print(
        f"versions    Django {version('Django')}, DRF {version('djangorestframework')}, "
        f"simplejwt {version('djangorestframework-simplejwt')}, PyJWT {version('PyJWT')}, "
        f"gunicorn {version('gunicorn')}, {wrk_version()}"
    )
    print(
        f"gunicorn    --workers {WORKERS} --threads {THREADS} (sync worker: one request per worker at a "
        "time, connection closed after each response), access log off, both sides"
    )
    print(
        f"wrk         -t{args.connections} -c{args.connections} (one connection per thread) "
        f"-d{args.duration}s after a {args.warmup}s warm-up, --timeout {WRK_TIMEOUT}, ours then peer, "
        f"{args.rounds} round(s)"
    )

    ours_env = ours_environment()
    peer_env = peer_environment(args.algorithm, tmp)
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=ours_env)
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=peer_env, cwd=PEER_DIR)

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
    run([PYTHON, str(PEER_DIR / "seed_users.py")], env=peer_env, cwd=PEER_DIR, stdin=json.dumps(peer_users))
    print(
        "hasher      ours identity.hashers.Argon2idPasswordHasher, stored "
        f"{stored_hash_parameters(OURS_DB, 'identity_user')}; peer peer.hashers.Argon2idPasswordHasher, "
        f"stored {stored_hash_parameters(PEER_DB, 'auth_user')}"
    )
    print(
        f"signing     ours {seed['signingAlgorithm']} (tenant key), peer {args.algorithm}; "
        f"{args.users} users each side, same passwords"
    )

    servers.append(
        gunicorn_start(
            "ours", "config.wsgi:application", cwd=ROOT, env=ours_env, log=tmp / "ours.log", database=OURS_DB
        )
    )
    servers.append(
        gunicorn_start(
            "peer",
            "peer.wsgi:application",
            cwd=PEER_DIR,
            env=peer_env,
            log=tmp / "peer.log",
            database=PEER_DB,
        )
    )
    ours, peer = servers
    for server in servers:
        wait_until_up(server)
    print(f"servers     ours http://{HOST}:{ours.port}, peer http://{HOST}:{peer.port}")
    print()

    ctx = Context(ours=ours, peer=peer, seed=seed, users=users)
    rows: list[Row] = []
    for scenario in SCENARIOS:
        if scenario.name not in args.only:
            continue
        print(f"{scenario.name}: {scenario.note}", flush=True)
        settings = {"ctx": ctx, "tmp": tmp, "connections": args.connections, "duration": args.duration}
        profiles = {
            name: args.profile / f"{scenario.name}-{name}.txt" if args.profile else None
            for name in ("ours", "peer")
        }
        runs: dict[str, list[Measure]] = {"ours": [], "peer": []}
        for round_ in range(1, args.rounds + 1):
            label = f" (round {round_}/{args.rounds})" if args.rounds > 1 else ""
            compared = ours if scenario.baseline_on_ours else peer
            for name, server, side in (("ours", ours, scenario.ours), ("peer", compared, scenario.peer)):
                if side is None:
                    runs[name].append(Measure(skipped=NO_PEER))
                    continue
                profile = profiles[name] if round_ == 1 else None
                m = measure(server, side, warmup=args.warmup, profile=profile, **settings)
                runs[name].append(m)
                shown = "ours, user token" if scenario.baseline_on_ours and name == "peer" else name
                print(f"  {shown}{label}: {describe(m)}", flush=True)
                if profile is not None and not m.skipped:
                    print(f"  profile of {name} ({profile}):\n{profile_summary(profile, args.profile_top)}")
                if m.skipped:
                    break
            if any(m.skipped and m.skipped != NO_PEER for m in runs["ours"] + runs["peer"]):
                break
        if not runs["peer"]:
            runs["peer"].append(Measure(skipped="not measured: ours was skipped"))
        ratios = [o.rate / p.rate for o, p in zip(runs["ours"], runs["peer"], strict=False) if p.rate]
        rows.append(Row(scenario, combine(runs["ours"]), combine(runs["peer"]), ratios))
        for server in servers:
            if server.process.poll() is not None:
                raise BenchError(f"{server.name} died during {scenario.name}:\n{server.log_tail()}")
    print()
    print(table(rows))
    print()
    print(cpu_table(rows))
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for server in servers:
        logged = server.log_since_ready()
        if logged.strip():
            print(f"\n{server.name} server log during the run (last lines):\n{logged}")


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk).", file=sys.stderr)
        return 2
    servers: list[Server] = []
    with interruptible(), tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        try:
            bench(args, Path(tmp), servers)
        except BenchError as error:
            print(f"\nbench failed: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
        finally:
            for server in servers:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
