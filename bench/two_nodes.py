"""Two independent nodes against one node with the same number of workers (issue 16, "Many nodes").

    flock /tmp/bench.lock .venv/bin/python bench/two_nodes.py [--duration 10] [--connections 4]

Drops and re-creates the PostgreSQL database `bench_two_nodes`, seeds it with bench/seed_identity.py
(the service's own seeding for bench/run_http.py: a OneTimeUse application, 64 users, an API key),
and measures each scenario in two topologies with the same total of gunicorn workers (2, one per
core here):

- `1 node x 2 workers`: one gunicorn master, no Redis (the key-store version read from PostgreSQL);
- `2 nodes x 1 worker`: two masters on different ports sharing PostgreSQL and Redis
  (`REDIS_URL=redis://127.0.0.1:6379/<--redis-db>`), wrk split over both (one wrk per node, half
  the connections each), as a load balancer would.

Scenarios: `validate` (GET /api/jwt/validate with an access token: no SQL) and `refresh_onetime`
(POST /api/jwt/refresh, OneTimeUse: each connection sends the token of its previous answer). It
prints req/s per node and in total, p50/p99 and non-2xx answers, and writes the figures as JSON
(`--json PATH`). Meant to be called by `make bench` (bench/run_http.py) as a separate script.
On one 2-core machine two nodes cannot beat one: what this shows is that splitting the workers
over independent nodes costs nothing on these paths (no shared memory, no per-request coherence
traffic), not how a second machine scales. Numbers from a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "wrk" / "bench.lua"
HOST = "127.0.0.1"
DATABASE = "bench_two_nodes"
PSQL = ["psql", "-h", HOST, "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-d", "postgres"]
USERS = 64
TOTAL_WORKERS = 2


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=15)


def environment(redis_url: str | None) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "IDENTITY_", "REDIS_URL"))
    }
    env = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "IDENTITY_KEY_ENCRYPTION_KEY": KEY_ENCRYPTION_KEY,
        "DJANGO_ENV_FILE": "/nonexistent",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"postgres://postgres@{HOST}:5432/{DATABASE}",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


SECRET_KEY = secrets.token_urlsafe(50)
KEY_ENCRYPTION_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def psql(statement: str) -> None:
    subprocess.run([*PSQL, "-c", statement], check=True, capture_output=True)  # noqa: S603


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def call(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        payload = json.dumps(body) if body is not None else None
        connection.request(
            method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})}
        )
        answer = connection.getresponse()
        raw = answer.read()
        if answer.status != 200:
            raise SystemExit(f"{method} {path} answered {answer.status}: {raw[:300]!r}")
        return json.loads(raw) if raw else None
    finally:
        connection.close()


def start(workers: int, env: dict[str, str], logs: Path) -> Node:
    port = free_port()
    log = logs / f"gunicorn-{port}.log"
    command = [
        str(BIN / "gunicorn"),
        "config.wsgi:application",
        f"--bind={HOST}:{port}",
        f"--workers={workers}",
        "--threads=1",
        "--log-level=warning",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    node = Node(port, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return node
        except OSError:
            time.sleep(0.2)
    node.stop()
    raise SystemExit("gunicorn did not start within 60 s")


def wrk(node: Node, values: Path, *, connections: int, seconds: int, scenario: str) -> dict[str, Any]:
    if scenario == "validate":
        args = ["mode=bearer", "method=GET", "path=/api/jwt/validate"]
    else:
        args = [
            "mode=chain",
            "method=POST",
            "path=/api/jwt/refresh",
            "send=refreshToken",
            "take=refreshToken",
        ]
    command = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout=10s",
        f"--script={LUA}",
        f"http://{HOST}:{node.port}/",
        "--",
        f"file={values}",
        f"threads={connections}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)  # noqa: S603
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    failures = sum(n for status, n in result["statuses"].items() if not str(status).startswith("2"))
    failures += sum(result[k] for k in ("connect", "read", "write", "timeout")) + result["chain_missing"]
    seconds_run = result["duration_us"] / 1e6
    return {
        "rps": round(result["requests"] / seconds_run, 1),
        "p50_ms": round(result["p50_us"] / 1e3, 2),
        "p99_ms": round(result["p99_us"] / 1e3, 2),
        "failures": failures,
    }


def values_file(directory: Path, name: str, lines: list[str]) -> Path:
    path = directory / f"{name}-{secrets.token_hex(4)}.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_topology(
    name: str,
    nodes: list[Node],
    seed: dict[str, Any],
    users: list[dict[str, str]],
    args: argparse.Namespace,
    tmp: Path,
) -> list[dict[str, Any]]:
    per_node = max(args.connections // len(nodes), 1)
    headers = {"Authorization": seed["apiKey"]}

    def login(node: Node, index: int, application: str) -> dict[str, Any]:
        user = users[index % len(users)]
        body = {"loginId": user["email"], "password": user["password"], "applicationId": seed[application]}
        return dict(call(node.port, "POST", "/api/login", body, headers))

    rows = []
    for scenario in ("validate", "refresh_onetime"):
        files = []
        for n, node in enumerate(nodes):
            if scenario == "validate":
                # Tokens issued by the other node where there is one: verified with its snapshot.
                issuer = nodes[(n + 1) % len(nodes)]
                lines = [
                    login(issuer, n * per_node + i, "reusableApplicationId")["token"] for i in range(per_node)
                ]
            else:
                lines = [
                    login(node, n * per_node + i, "oneTimeUseApplicationId")["refreshToken"]
                    for i in range(per_node)
                ]
            files.append(values_file(tmp, scenario, lines))
        for node, path in zip(nodes, files, strict=True):  # warm-up
            wrk(node, path, connections=per_node, seconds=2, scenario=scenario)
        if scenario == "refresh_onetime":  # the warm-up rotated the chains: start them again
            files = [
                values_file(
                    tmp,
                    scenario,
                    [
                        login(node, n * per_node + i, "oneTimeUseApplicationId")["refreshToken"]
                        for i in range(per_node)
                    ],
                )
                for n, node in enumerate(nodes)
            ]
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            runs = [
                pool.submit(wrk, node, path, connections=per_node, seconds=args.duration, scenario=scenario)
                for node, path in zip(nodes, files, strict=True)
            ]
            measured = [run.result() for run in runs]
        row = {
            "topology": name,
            "scenario": scenario,
            "totalRps": round(sum(m["rps"] for m in measured), 1),
            "perNode": measured,
            "failures": sum(m["failures"] for m in measured),
        }
        rows.append(row)
        per = " + ".join(f"{m['rps']:.0f}" for m in measured)
        print(
            f"{name:<20} {scenario:<16} {row['totalRps']:>8.0f} req/s ({per}) "
            f"p50 {max(m['p50_ms'] for m in measured):.1f} ms "
            f"p99 {max(m['p99_ms'] for m in measured):.1f} ms "
            f"failures {row['failures']}",
            flush=True,
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds measured per scenario.")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections in total.")
    parser.add_argument("--redis-db", type=int, default=7)
    parser.add_argument("--json", type=Path, help="Write the figures here.")
    args = parser.parse_args()
    redis_url = f"redis://{HOST}:6379/{args.redis_db}"
    flush = ["redis-cli", "-n", str(args.redis_db), "FLUSHDB"]
    subprocess.run(flush, check=True, capture_output=True)  # noqa: S603
    psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    psql(f"CREATE DATABASE {DATABASE}")
    env = environment(None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    users = [{"email": f"u{i}@example.com", "password": secrets.token_urlsafe(12)} for i in range(USERS)]
    seeded = subprocess.run(
        [sys.executable, "bench/seed_identity.py"],
        cwd=ROOT,
        env=env,
        input=json.dumps({"algorithm": "ES256", "users": users}),
        capture_output=True,
        text=True,
        check=True,
    )
    seed = json.loads(seeded.stdout.strip().splitlines()[-1])
    load = os.getloadavg()[0]
    print(f"cpus={os.cpu_count()} load={load:.2f} connections={args.connections} duration={args.duration}s")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="two-nodes-") as directory:
        tmp = Path(directory)
        topologies = [
            ("1 node x 2 workers", [(TOTAL_WORKERS, environment(None))]),
            ("2 nodes x 1 worker", [(1, environment(redis_url)), (1, environment(redis_url))]),
        ]
        for name, specs in topologies:
            nodes: list[Node] = []
            try:
                for workers, node_env in specs:
                    nodes.append(start(workers, node_env, tmp))
                rows += run_topology(name, nodes, seed, users, args, tmp)
            finally:
                for node in nodes:
                    node.stop()
    psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(row["failures"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
