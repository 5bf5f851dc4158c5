"""HTTP benchmark of identity.middleware (issue 13): the same Django view served bare and behind
TokenAuthorizationMiddleware, by gunicorn, driven by wrk, measured in the same run. Figures only.

    flock /tmp/bench.lock .venv/bin/python bench/middleware_http.py [--duration 10] [--rounds 3]

The project is tests/resource_server (one view, no database). Three servers start side by side with
the same gunicorn settings (2 sync workers):

- `bare`: the middleware disabled (`enabled: false`: Django drops it from the stack);
- `hmac`: protecting `/api/**` with a shared HS256 secret;
- `jwks`: protecting `/api/**` with ES256 keys from a JWKS URL (served by this script on loopback);
- `hmac_nocache`, `jwks_nocache`: the same with `cache_seconds: 0`, so every request checks the
  signature (what a client costs that never sends the same token twice).

Each round measures the servers in turn (wrk `-t2 -c8`, a 2 s warm-up, then the measure)
on `GET /api/items/1` with a valid bearer token; the table gives the median req/s over the rounds
and its change against bare (median of the per-round ratios), and the CPU time the server's
workers spent per request (utime + stime from /proc), the figure other processes on a shared
machine disturb least. No refresh is configured: a refresh signs a token, which is a different cost.

Two comparisons, both printed, because a protected view does work a bare view does not:

- against `bare` alone (the issue's "at most 15% over a bare Django view", read literally);
- against `bare + verify`: the bare view's CPU per request plus the CPU of one verification of the
  same token by the same key source (`source.verify`, HMAC or ES256 with claim checks), measured
  in this process with `time.process_time` before the servers start (best of 5 batches). For the
  req/s column the same ceiling as bench/README's (a): `1 / (1/bare + verify_seconds/workers)`.
  With the verified-token cache on (`hmac`, `jwks`; wrk sends one token over and over, the cache's
  best case) a request verifies nothing, so the verify cost is 0 there and both comparisons are the
  same; the `*_nocache` servers verify every request, and only `bare + verify` is a fair baseline.

What remains over `bare + verify` is the middleware's own overhead (path decision, header parse,
cache, the response). The last lines say which of the two 15% targets each server meets.

`--profile DIR` samples each server's workers with py-spy (`pip install py-spy`) during the first
round's measured run, writes collapsed stacks to DIR and prints where the request time goes
(bench/run_http.py's summary). The sampler takes CPU: figures of a profiled run are not comparable.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from run_http import profile_summary, py_spy

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
SECRET = "bench secret of at least thirty-two bytes!!"  # noqa: S105 (a benchmark's throwaway key)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start(config: dict[str, Any]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "IDENTITY_", "RS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.resource_server.settings", RS_TOKEN_AUTHORIZATION=json.dumps(config)
    )
    process = subprocess.Popen(  # noqa: S603 (our own command)
        [str(BIN / "gunicorn"), "tests.resource_server.wsgi:application", f"--bind={HOST}:{port}",
         "--workers=2", "--threads=1", "--log-level=warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    for _ in range(300):
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server for {config} did not start")


def cpu_seconds(master: int) -> float:
    """utime + stime of a gunicorn master's workers (its children), from /proc."""
    total = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrk(port: int, token: str, seconds: int) -> tuple[float, int]:
    out = subprocess.run(  # noqa: S603
        [WRK, "-t2", "-c8", f"-d{seconds}s", "-H", f"Authorization: Bearer {token}",
         f"http://{HOST}:{port}/api/items/1"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out:
        raise SystemExit(f"errors in the run on port {port}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if match is None or count is None:
        raise SystemExit(out)
    return float(match.group(1)), int(count.group(1))


def verify_cpu_seconds(config: dict[str, Any], token: str, *, repeat: int) -> float:
    """CPU seconds of one `source.verify` of the token by the configuration's key source: what the
    protected view does that the bare one does not (best of 5 batches of `repeat`)."""
    import django

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.resource_server.settings"  # the servers' project
    django.setup()
    from datetime import UTC, datetime

    from identity.middleware_config import config_parse
    from identity.middleware_keys import key_source_for

    source = key_source_for(config_parse(config))
    now = datetime.now(UTC)
    source.verify(token=token, now=now)  # a JWKS source fetches its keys here, outside the timing
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(repeat):
            source.verify(token=token, now=now)
        best = min(best, (time.process_time() - started) / repeat)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the first round into DIR")
    parser.add_argument("--profile-top", type=int, default=25, help="functions listed per profile")
    args = parser.parse_args()
    if args.profile:
        if not (BIN / "py-spy").exists():
            parser.error(f"--profile needs {BIN / 'py-spy'} (pip install py-spy)")
        args.profile.mkdir(parents=True, exist_ok=True)

    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwks = json.dumps({"keys": [{**jwk, "kid": "bench", "alg": "ES256", "use": "sig"}]}).encode()

    class JWKS(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: Any) -> None:
            pass

    jwks_server = http.server.ThreadingHTTPServer((HOST, free_port()), JWKS)
    threading.Thread(target=jwks_server.serve_forever, daemon=True).start()

    claims = {"sub": "bench", "iss": "https://bench", "aud": "bench", "iat": int(time.time()),
              "exp": int(time.time()) + 3600}  # fmt: skip
    common = {"protected_paths": ["/api/**"], "issuer": "https://bench", "audience": "bench"}
    setups = {
        "bare": ({**common, "enabled": False, "key_source": "hmac", "hmac_secret": SECRET},
                 jwt.encode(claims, SECRET, algorithm="HS256")),
        "hmac": ({**common, "key_source": "hmac", "hmac_secret": SECRET},
                 jwt.encode(claims, SECRET, algorithm="HS256")),
        "jwks": ({**common, "key_source": "jwks",
                  "jwks_url": f"http://{HOST}:{jwks_server.server_address[1]}/jwks.json"},
                 jwt.encode(claims, private, algorithm="ES256", headers={"kid": "bench", "tkn": "access"})),
        "hmac_nocache": ({**common, "key_source": "hmac", "hmac_secret": SECRET, "cache_seconds": 0},
                 jwt.encode(claims, SECRET, algorithm="HS256")),
        "jwks_nocache": ({**common, "key_source": "jwks", "cache_seconds": 0,
                  "jwks_url": f"http://{HOST}:{jwks_server.server_address[1]}/jwks.json"},
                 jwt.encode(claims, private, algorithm="ES256", headers={"kid": "bench", "tkn": "access"})),
    }  # fmt: skip
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)  # noqa: S607
    print(f"commit {commit.stdout.strip()}, {os.cpu_count()} CPUs, gunicorn 2 sync workers, wrk -t2 -c8 "
          f"{args.duration}s (+{args.warmup}s warm-up), {args.rounds} rounds")  # fmt: skip
    # What one verification costs, per key source (0 where the cache answers: the same token again).
    verify_us = {
        name: 0.0
        if config.get("enabled") is False or config.get("cache_seconds", 60)
        else verify_cpu_seconds(config, token, repeat=2000 if config["key_source"] == "hmac" else 300) * 1e6
        for name, (config, token) in setups.items()
    }
    print("verify CPU µs (in process, best of 5): "
          + ", ".join(f"{name} {cost:.1f}" for name, cost in verify_us.items() if cost))  # fmt: skip
    servers = {name: start(config) for name, (config, _) in setups.items()}
    print("ports: " + ", ".join(f"{name} {port}" for name, (_, port) in servers.items()))
    rates: dict[str, list[float]] = {name: [] for name in setups}
    cpu: dict[str, list[float]] = {name: [] for name in setups}
    try:
        for round_no in range(args.rounds):
            for name, (_, token) in setups.items():
                process, port = servers[name]
                wrk(port, token, args.warmup)
                profile = args.profile / f"middleware-{name}.txt" if args.profile and round_no == 0 else None
                spying = (
                    py_spy(types.SimpleNamespace(process=process), profile, seconds=args.duration)  # type: ignore[arg-type]
                    if profile is not None
                    else contextlib.nullcontext()
                )
                before = cpu_seconds(process.pid)
                with spying:
                    rate, count = wrk(port, token, args.duration)
                rates[name].append(rate)
                cpu[name].append((cpu_seconds(process.pid) - before) / count * 1e6)
            print(
                f"round {round_no + 1}: "
                + ", ".join(f"{n} {r[-1]:.0f} req/s {cpu[n][-1]:.0f} µs CPU/req" for n, r in rates.items())
            )
            if args.profile and round_no == 0:
                for name in setups:
                    path = args.profile / f"middleware-{name}.txt"
                    print(f"profile of {name} ({path}):\n{profile_summary(path, args.profile_top)}")
    finally:
        for process, _ in servers.values():
            os.killpg(process.pid, 15)
        jwks_server.shutdown()
    workers = 2
    print(
        f"\n{'server':<13} {'median req/s':>12} {'range':>11} {'vs bare':>8} {'vs bare+verify':>15}"
        f" {'µs CPU/req':>11} {'verify µs':>10} {'CPU vs bare':>12} {'CPU vs bare+verify':>19}"
    )
    verdicts = []
    for name, values in rates.items():
        verify_s = verify_us[name] / 1e6
        rate_raw = statistics.median(v / b - 1 for v, b in zip(values, rates["bare"], strict=True))
        rate_fair = statistics.median(
            v / (1 / (1 / b + verify_s / workers)) - 1 for v, b in zip(values, rates["bare"], strict=True)
        )
        cpu_raw = statistics.median(c / b - 1 for c, b in zip(cpu[name], cpu["bare"], strict=True))
        cpu_fair = statistics.median(
            c / (b + verify_us[name]) - 1 for c, b in zip(cpu[name], cpu["bare"], strict=True)
        )
        spread = f"{min(values):.0f}-{max(values):.0f}"
        median_rate, median_cpu = statistics.median(values), statistics.median(cpu[name])
        print(
            f"{name:<13} {median_rate:>12.0f} {spread:>11} {rate_raw:>+8.1%} {rate_fair:>+15.1%}"
            f" {median_cpu:>11.0f} {verify_us[name]:>10.1f} {cpu_raw:>+12.1%} {cpu_fair:>+19.1%}"
        )
        if name != "bare":
            verdicts.append(
                f"{name}: CPU/req {cpu_raw:+.1%} over bare ({'meets' if cpu_raw <= 0.15 else 'misses'} 15%), "
                f"{cpu_fair:+.1%} over bare + verify ({'meets' if cpu_fair <= 0.15 else 'misses'} 15%)"
            )
    print("\n" + "\n".join(verdicts))
    print("(req/s on a shared machine moves with other processes' load; read CPU per request)")


if __name__ == "__main__":
    main()
