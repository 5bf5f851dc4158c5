"""Two independent nodes on one PostgreSQL and one Redis (issue 16, "Many nodes").

    flock /tmp/bench.lock .venv/bin/python bench/two_nodes.py [--duration 8] [--connections 4]
                                                              [--change-seconds 30] [--races 10]
                                                              [--redis-url redis://127.0.0.1:6379/0]

Drops and re-creates the PostgreSQL database `bench_two_nodes`, migrates it and seeds it with
bench/seed_identity.py (the seeding of `make bench`), then:

1. **Load.** Each scenario is measured in two topologies with the same total of gunicorn workers:
   `1 node x 2 workers` (no Redis: the coherence versions are read from PostgreSQL) and
   `2 nodes x 1 worker` (two gunicorn masters on different ports, no shared memory, both with
   REDIS_URL), with wrk split over the nodes as a load balancer would. Scenarios: `validate`
   (GET /api/jwt/validate, ES256; on two nodes each node verifies tokens the other one issued) and
   `refresh_onetime` (POST /api/jwt/refresh, OneTimeUse: each connection sends the token of its
   previous answer). Per topology: req/s per node and in total, p50/p99, non-2xx answers and socket
   errors, SQL statements per request, and CPU milliseconds per request of the gunicorn processes,
   of PostgreSQL and of Redis, plus Redis commands per request (Redis's own counter: whole server,
   so an upper bound when something else uses it).
2. **Changes under load.** With both nodes under validate and refresh load (one wrk connection of
   each per node), through node A: the tenant's signing key is rotated, a key is deleted, a PAT and
   a client-credentials access token are revoked, and `validateChecksState` is switched on. For
   each, the seconds from A's answer until node B honours it (a login on B signs with the new key;
   B refuses the old token on every request of a run), and the load's errors meanwhile.
3. **One-time use across nodes.** `--races` rounds of 20 parallel refreshes of one OneTimeUse value,
   10 sent to each node, released together by a barrier, still under the load: successes per round.

Request throttles stay on at rates the bench cannot reach, so their Redis counting is in the cost.
The servers, wrk, the CPU accounting and the seeding come from bench/run_http.py. On one 2-core
machine two nodes cannot serve more than one: what the comparison shows is the cost of splitting
the workers over independent nodes (CPU per request, Redis traffic per request), not how a second
machine adds capacity; req/s on a shared machine are noisy, CPU per request much less. Exit status
1 when a request failed or a one-time value was used twice.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import redis
from psycopg import sql
from run_http import (  # bench/run_http.py: this directory is on sys.path
    BENCH,
    HOST,
    PG,
    PYTHON,
    ROOT,
    SCENARIOS,
    BenchError,
    Context,
    Measure,
    Server,
    Side,
    children_cpu,
    cpu_snapshot,
    cpu_used,
    gunicorn_start,
    http_call,
    ours_environment,
    process_cpu,
    run,
    validate_scenario,
    wait_until_up,
    write_lines,
    wrk,
)

DATABASE = "bench_two_nodes"
USERS = 64
TOTAL_WORKERS = 2
PROPAGATION_BOUND = 1.0
"""Issue 16: a change through node A is honoured by node B within one second."""
GIVE_UP_SECONDS = 10.0
PARALLEL_USES = 20
# Counted (so Redis's share is measured) but never reached by the bench.
THROTTLES = ",".join(
    f"{name}=100000000/min"
    for name in ("login.account", "login.address", "login.api_key", "refresh.address", "oauth.address")
)
VALIDATE = validate_scenario("ES256").ours
REFRESH = next(s.ours for s in SCENARIOS if s.name == "refresh_onetime")


# --- setup -----------------------------------------------------------------------------------------


def database_reset() -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as connection:
        name = sql.Identifier(DATABASE)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))


def database_drop() -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )


def base_environment() -> dict[str, str]:
    """One set of secrets for every node (they must share them), no Redis."""
    env = {k: v for k, v in ours_environment().items() if k != "REDIS_URL"}
    return {
        **env,
        "DATABASE_URL": f"postgres://postgres@{HOST}:5432/{DATABASE}",
        "IDENTITY_THROTTLE_RATES": THROTTLES,
    }


def seed_everything(env: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, str]], str]:
    """The bench seed, its users, and an API key for any tenant (the seed's is tenant-locked)."""
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=env)
    users = [
        {"email": f"user{i}@bench.example.com", "username": f"user{i}", "password": f"pw-{i:04d}-bench"}
        for i in range(USERS)
    ]
    spec = {"algorithm": "ES256", "users": [{"email": u["email"], "password": u["password"]} for u in users]}
    seed = json.loads(run([PYTHON, str(BENCH / "seed_identity.py")], env=env, stdin=json.dumps(spec)))
    created = run([PYTHON, "manage.py", "create_api_key", "--name", "two-nodes", "--json"], env=env)
    return seed, users, str(json.loads(created)["key"])


def start_nodes(workers: list[int], envs: list[dict[str, str]], tmp: Path) -> list[Server]:
    nodes: list[Server] = []
    try:
        for index, (count, env) in enumerate(zip(workers, envs, strict=True)):
            name = "AB"[index]
            nodes.append(
                gunicorn_start(
                    f"node {name}",
                    "config.wsgi:application",
                    cwd=ROOT,
                    env=env,
                    log=tmp / f"node-{name}-{time.monotonic_ns()}.log",
                    database=DATABASE,
                    workers=count,
                )
            )
        for node in nodes:
            wait_until_up(node)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


# --- CPU and Redis accounting ----------------------------------------------------------------------


class Accounting:
    """CPU seconds of the nodes' processes, PostgreSQL's and Redis's, and Redis's command count,
    between `start()` and `stop()`."""

    def __init__(self, nodes: list[Server], cache: redis.Redis | None) -> None:
        self.nodes, self.cache = nodes, cache
        info = cache.info("server") if cache is not None else {}
        self.redis_pid = int(info.get("process_id", 0))

    def _snapshot(self) -> dict[str, Any]:
        app: dict[int, float] = {}
        postgres: dict[int, float] = {}
        for node in self.nodes:
            groups = cpu_snapshot(node)
            app.update(groups["app"])
            postgres.update(groups["postgres"])
        found = process_cpu(self.redis_pid) if self.redis_pid else None
        commands = int(self.cache.info("stats")["total_commands_processed"]) if self.cache is not None else 0
        return {
            "app": app,
            "postgres": postgres,
            "redis": found[1] if found else 0.0,
            "commands": commands,
            "wrk": children_cpu(),
        }

    def start(self) -> None:
        self.before = self._snapshot()

    def stop(self, requests: int) -> dict[str, float]:
        after = self._snapshot()
        if not requests:
            return {}
        per = 1000 / requests
        return {
            "app_cpu_ms": round(cpu_used(self.before["app"], after["app"]) * per, 3),
            "postgres_cpu_ms": round(cpu_used(self.before["postgres"], after["postgres"]) * per, 3),
            "redis_cpu_ms": round((after["redis"] - self.before["redis"]) * per, 4),
            "redis_commands": round((after["commands"] - self.before["commands"]) / requests, 3),
            "wrk_cpu_ms": round((after["wrk"] - self.before["wrk"]) * per, 3),
        }


# --- load ------------------------------------------------------------------------------------------


def contexts(nodes: list[Server], seed: dict[str, Any], users: list[dict[str, str]]) -> list[Context]:
    """One Context per node: the node whose logins make the values (`ours`)."""
    return [Context(ours=node, peer=None, ceiling=node, seed=seed, users=users) for node in nodes]


def values_for(
    scenario: str, side: Side, nodes: list[Server], ctxs: list[Context], per_node: int, tmp: Path, tag: str
) -> list[Path]:
    """The wrk value files, one per node. Validate: tokens issued by the *other* node (where there
    is one), so each node verifies what another signed."""
    files = []
    for n in range(len(nodes)):
        maker = ctxs[(n + 1) % len(nodes)] if scenario == "validate" else ctxs[n]
        lines = side.values(maker, per_node)
        files.append(write_lines(tmp, f"{scenario}-{tag}-{n}-{time.monotonic_ns()}.txt", lines))
    return files


def parallel_wrk(runs: list[tuple[Server, Side, Path, Context, int]], seconds: int) -> list[Measure]:
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = [
            pool.submit(wrk, node, side, path, ctx=ctx, connections=conns, seconds=seconds)
            for node, side, path, ctx, conns in runs
        ]
        return [future.result() for future in futures]


def measure_topology(
    name: str, nodes: list[Server], ctxs: list[Context], cache: redis.Redis | None, args: argparse.Namespace
) -> list[dict[str, Any]]:
    per_node = max(args.connections // len(nodes), 1)
    rows = []
    for scenario, side in (("validate", VALIDATE), ("refresh_onetime", REFRESH)):
        warm = values_for(scenario, side, nodes, ctxs, per_node, args.tmp, "warm")
        parallel_wrk([(n, side, f, c, per_node) for n, f, c in zip(nodes, warm, ctxs, strict=True)], 2)
        files = values_for(scenario, side, nodes, ctxs, per_node, args.tmp, "run")
        accounting = Accounting(nodes, cache)
        accounting.start()
        started = time.monotonic()
        measured = parallel_wrk(
            [(n, side, f, c, per_node) for n, f, c in zip(nodes, files, ctxs, strict=True)], args.duration
        )
        window = time.monotonic() - started
        requests = sum(m.requests for m in measured)
        costs = accounting.stop(requests)
        sql_responses = sum(m.sql_responses for m in measured)
        row = {
            "topology": name,
            "scenario": scenario,
            "total_rps": round(sum(m.rate for m in measured), 1),
            "per_node_rps": [round(m.rate, 1) for m in measured],
            "p50_ms": round(max(m.p50_ms for m in measured), 2),
            "p99_ms": round(max(m.p99_ms for m in measured), 2),
            "failures": sum(m.failures for m in measured),
            "statuses": [m.statuses for m in measured],
            "sql_per_request": round(sum(m.sql for m in measured) / sql_responses, 2)
            if sql_responses
            else None,
            "seconds": round(window, 1),
            **costs,
        }
        rows.append(row)
        print(
            f"{name:<19} {scenario:<16} {row['total_rps']:>7.0f} req/s "
            f"({' + '.join(f'{r:.0f}' for r in row['per_node_rps'])})  "
            f"p50/p99 {row['p50_ms']:.1f}/{row['p99_ms']:.1f} ms  SQL/req {row['sql_per_request']}  "
            f"CPU ms/req app {costs.get('app_cpu_ms')} pg {costs.get('postgres_cpu_ms')} "
            f"redis {costs.get('redis_cpu_ms')}  redis cmds/req {costs.get('redis_commands')}  "
            f"failures {row['failures']}",
            flush=True,
        )
    return rows


# --- changes through node A, honoured by node B ------------------------------------------------------


class Admin:
    """Calls of the REST API through one node with an API key for any tenant."""

    def __init__(self, node: Server, key: str, tenant_id: str) -> None:
        self.node, self.headers = node, {"Authorization": key, "X-FusionAuth-TenantId": tenant_id}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        status, raw = http_call(self.node.port, method, path, body, headers=self.headers)
        if status != 200:
            raise BenchError(f"{method} {path} on {self.node.name} answered {status}: {raw[:300]!r}")
        return json.loads(raw) if raw else None


def validate_status(node: Server, token: str) -> int:
    return http_call(node.port, "GET", "/api/jwt/validate", headers={"Authorization": f"Bearer {token}"})[0]


def kid_of(token: str) -> str:
    head = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])


def warm(node: Server, token: str, tries: int) -> None:
    statuses = [validate_status(node, token) for _ in range(tries)]
    if any(status != 200 for status in statuses):
        raise BenchError(f"{node.name} does not verify the token before the change: {statuses}")


def seconds_until(check: Callable[[], bool], since: float) -> float | None:
    """Seconds from `since` to the start of the first check that holds; None after GIVE_UP_SECONDS."""
    while True:
        started = time.monotonic() - since
        if check():
            return started
        if started > GIVE_UP_SECONDS:
            return None
        time.sleep(0.01)


def refused_everywhere(node: Server, token: str, tries: int) -> Callable[[], bool]:
    """A run of `tries` requests in a row (fresh connections: any worker) that all refuse it."""
    return lambda: all(validate_status(node, token) == 401 for _ in range(tries))


def changes(
    a: Server, b: Server, admin: Admin, seed: dict[str, Any], users: list[dict[str, str]], tries: int
) -> dict[str, float | None]:
    """Each change made through A; the seconds until B honours it."""
    result: dict[str, float | None] = {}
    tenant = seed["tenantId"]
    login_index = iter(range(10**6))

    def login(node: Server, application_key: str = "reusableApplicationId") -> dict[str, Any]:
        user = users[next(login_index) % len(users)]
        body = {
            "loginId": user["email"],
            "password": user["password"],
            "applicationId": seed[application_key],
        }
        status, raw = http_call(
            node.port, "POST", "/api/login", body, headers={"Authorization": seed["apiKey"]}
        )
        if status != 200:
            raise BenchError(f"login on {node.name} answered {status}: {raw[:300]!r}")
        return dict(json.loads(raw))

    # 1. The tenant's signer rotated through A: B's next logins sign with the new key, and A
    #    verifies them (an unknown kid reloads the key store at once).
    key = admin.call("POST", "/api/key/generate", {"key": {"algorithm": "ES256", "name": "rotated"}})["key"]
    admin.call(
        "PATCH", f"/api/tenant/{tenant}", {"tenant": {"jwtConfiguration": {"accessTokenKeyId": key["id"]}}}
    )
    since = time.monotonic()

    def b_signs_with_new_key() -> bool:
        token = login(b)["token"]
        return kid_of(token) == key["kid"] and validate_status(a, token) == 200

    result["key rotated (B signs with it, A verifies)"] = seconds_until(b_signs_with_new_key, since)

    # 2. A key deleted through A: B stops verifying what it signed.
    spare = admin.call("POST", "/api/key/generate", {"key": {"algorithm": "ES256", "name": "spare"}})["key"]
    vended = admin.call("POST", "/api/jwt/vend", {"keyId": spare["id"], "claims": {"svc": 1}})["token"]
    warm(b, vended, tries)
    admin.call("DELETE", f"/api/key/{spare['id']}")
    result["key deleted"] = seconds_until(refused_everywhere(b, vended, tries), time.monotonic())

    # 3. A personal access token revoked through A.
    user_id = seed["userIds"][0]
    created = admin.call(
        "POST", f"/api/user/{user_id}/access-token", {"name": "two-nodes", "JWTTokenExpiry": "Unlimited"}
    )
    warm(b, created["JWTToken"], tries)
    admin.call("DELETE", f"/api/user/{user_id}/access-token/{created['accessToken']['id']}")
    result["PAT revoked"] = seconds_until(refused_everywhere(b, created["JWTToken"], tries), time.monotonic())

    # 4. A client-credentials access token issued by B, revoked through A (RFC 7009).
    form = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": seed["oauthClientId"],
            "client_secret": seed["oauthClientSecret"],
        }
    )
    status, raw = http_call(b.port, "POST", "/oauth2/token", form=form)
    if status != 200:
        raise BenchError(f"client credentials on B answered {status}: {raw[:300]!r}")
    access = json.loads(raw)["access_token"]
    warm(b, access, tries)
    status, raw = http_call(a.port, "POST", "/oauth2/revoke", form=f"{form}&{urlencode({'token': access})}")
    if status != 200:
        raise BenchError(f"revoke on A answered {status}: {raw[:300]!r}")
    result["access token revoked"] = seconds_until(refused_everywhere(b, access, tries), time.monotonic())

    # 5. A tenant setting changed through A: validateChecksState on, so B refuses the access token
    #    of a session that ended (accepted while the setting was off, as FusionAuth does).
    session = login(a)
    status, raw = http_call(a.port, "POST", "/api/logout", {"refreshToken": session["refreshToken"]})
    if status != 200:
        raise BenchError(f"logout on A answered {status}: {raw[:300]!r}")
    warm(b, session["token"], tries)
    admin.call(
        "PATCH", f"/api/tenant/{tenant}", {"tenant": {"jwtConfiguration": {"validateChecksState": True}}}
    )
    result["tenant setting changed"] = seconds_until(
        refused_everywhere(b, session["token"], tries), time.monotonic()
    )
    admin.call(
        "PATCH", f"/api/tenant/{tenant}", {"tenant": {"jwtConfiguration": {"validateChecksState": False}}}
    )
    return result


def races(a: Server, b: Server, seed: dict[str, Any], users: list[dict[str, str]], rounds: int) -> list[int]:
    """Successes of each round of PARALLEL_USES refreshes of one value, half to each node."""
    successes = []
    for round_ in range(rounds):
        user = users[round_ % len(users)]
        body = {
            "loginId": user["email"],
            "password": user["password"],
            "applicationId": seed["oneTimeUseApplicationId"],
        }
        status, raw = http_call(a.port, "POST", "/api/login", body, headers={"Authorization": seed["apiKey"]})
        if status != 200:
            raise BenchError(f"login on A answered {status}: {raw[:300]!r}")
        value = json.loads(raw)["refreshToken"]
        barrier = threading.Barrier(PARALLEL_USES)

        def use(index: int, value: str = value, barrier: threading.Barrier = barrier) -> int:
            node = a if index % 2 else b
            barrier.wait(timeout=30)
            return http_call(node.port, "POST", "/api/jwt/refresh", {"refreshToken": value})[0]

        with ThreadPoolExecutor(max_workers=PARALLEL_USES) as pool:
            statuses = list(pool.map(use, range(PARALLEL_USES)))
        unexpected = [s for s in statuses if s not in (200, 400)]
        if unexpected:
            raise BenchError(f"parallel refreshes answered {unexpected}")
        successes.append(statuses.count(200))
    return successes


def under_load(
    nodes: list[Server],
    ctxs: list[Context],
    admin: Admin,
    seed: dict[str, Any],
    users: list[dict[str, str]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    a, b = nodes
    runs = []
    for scenario, side in (("validate", VALIDATE), ("refresh_onetime", REFRESH)):
        files = values_for(scenario, side, nodes, ctxs, 1, args.tmp, "change")
        runs += [(n, side, f, c, 1) for n, f, c in zip(nodes, files, ctxs, strict=True)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        load = pool.submit(parallel_wrk, runs, args.change_seconds)
        time.sleep(2)
        started = time.monotonic()
        try:
            propagation = changes(a, b, admin, seed, users, tries=3 * args.workers_per_node)
            successes = races(a, b, seed, users, args.races)
        finally:
            checks_seconds = time.monotonic() - started
            measured = load.result()
    return {
        "propagation_seconds": propagation,
        "race_successes": successes,
        "checks_within_load": checks_seconds + 2 < args.change_seconds,
        "load": [
            {
                "node": n.name,
                "scenario": s,
                "rps": round(m.rate, 1),
                "failures": m.failures,
                "statuses": m.statuses,
            }
            for (n, _, _, _, _), s, m in zip(
                runs, ["validate", "validate", "refresh_onetime", "refresh_onetime"], measured, strict=True
            )
        ],
    }


# --- main ------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="Seconds measured per scenario and topology.")
    parser.add_argument(
        "--connections", type=int, default=4, help="wrk connections in total (split over nodes)."
    )
    parser.add_argument(
        "--change-seconds", type=int, default=40, help="Length of the load during the changes."
    )
    parser.add_argument("--races", type=int, default=10, help="Rounds of 20 parallel refreshes of one value.")
    parser.add_argument(
        "--redis-url", default=f"redis://{HOST}:6379/0", help="Redis of the two-node topology."
    )
    parser.add_argument("--json", type=Path, help="Write the figures here.")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk).", file=sys.stderr)
        return 2
    cache = redis.Redis.from_url(args.redis_url)
    cache.ping()
    args.workers_per_node = TOTAL_WORKERS // 2
    print(
        f"cpus={os.cpu_count()} load average={' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"connections={args.connections} duration={args.duration}s redis={args.redis_url}",
        flush=True,
    )
    database_reset()
    env = base_environment()
    results: dict[str, Any] = {
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "topologies": [],
    }
    try:
        seed, users, admin_key = seed_everything(env)
        with_redis = {**env, "REDIS_URL": args.redis_url}
        with tempfile.TemporaryDirectory(prefix="two-nodes-") as directory:
            args.tmp = Path(directory)
            topologies: list[tuple[str, list[int], list[dict[str, str]], redis.Redis | None]] = [
                ("1 node x 2 workers", [TOTAL_WORKERS], [env], None),
                ("2 nodes x 1 worker", [args.workers_per_node] * 2, [with_redis, with_redis], cache),
            ]
            for name, workers, envs, accounted in topologies:
                nodes = start_nodes(workers, envs, args.tmp)
                try:
                    ctxs = contexts(nodes, seed, users)
                    results["topologies"] += measure_topology(name, nodes, ctxs, accounted, args)
                    if len(nodes) == 2:
                        admin = Admin(nodes[0], admin_key, seed["tenantId"])
                        results["changes"] = under_load(nodes, ctxs, admin, seed, users, args)
                finally:
                    for node in nodes:
                        node.stop()
    except BenchError as error:
        print(f"\ntwo_nodes failed: {error}", file=sys.stderr)
        return 1
    finally:
        database_drop()
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    changed = results["changes"]
    print("\nChanges through node A while both nodes serve validate + refresh (1 wrk connection each):")
    for what, seconds in changed["propagation_seconds"].items():
        shown = "not honoured within 10 s" if seconds is None else f"{seconds:.3f} s"
        flag = "" if seconds is not None and seconds < PROPAGATION_BOUND else "  OVER 1 s"
        print(f"  {what:<44} honoured by node B after {shown}{flag}")
    for load in changed["load"]:
        print(
            f"  load meanwhile: {load['node']} {load['scenario']:<16} {load['rps']:>6.0f} req/s  "
            f"failures {load['failures']}"
        )
    print(
        f"One value, {PARALLEL_USES} parallel refreshes split over both nodes, "
        f"{len(changed['race_successes'])} rounds: successes per round {changed['race_successes']}"
    )
    if not changed["checks_within_load"]:
        print("  (the load ended before the changes and races did: raise --change-seconds)")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    failed = any(row["failures"] for row in results["topologies"]) or any(
        load["failures"] for load in changed["load"]
    )
    return 1 if failed or any(n != 1 for n in changed["race_successes"]) else 0


if __name__ == "__main__":
    sys.exit(main())
