"""Instructions per request of identity.middleware, counted by valgrind (issue 13): a figure other
processes on a busy machine cannot disturb, unlike req/s or even CPU time per request.

    .venv/bin/python bench/middleware_instructions.py [--requests 500]

Each case runs tests/resource_server's WSGI handler in a fresh interpreter under
`valgrind --tool=cachegrind --cache-sim=no`, twice: with 100 and with 100 + N requests (after a
warm-up of 200). The difference divided by N is the instructions one request costs, start-up and
imports cancelled out. No network, no gunicorn: the middleware's share of the Python work only.

- `bare`: the view, the middleware disabled;
- `verify_here`: the view's twin checking the bearer token itself with the same HMAC key source
  (the "bare + verify" baseline);
- `hmac`: the view behind the middleware, the same token every time (the verified-token cache's
  best case);
- `hmac_nocache`: the same with `cache_seconds: 0` (every request verifies).

Needs valgrind (`apt-get install valgrind`). Takes about a minute per case on a quiet core.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench secret of at least thirty-two bytes!!"  # noqa: S105 (a benchmark's throwaway key)
COMMON = {
    "protected_paths": ["/api/**"],
    "issuer": "https://bench",
    "audience": "bench",
    "key_source": "hmac",
    "hmac_secret": SECRET,
}
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "bare": ({**COMMON, "enabled": False}, "/api/items/1"),
    "verify_here": ({**COMMON, "enabled": False}, "/verified-here/items/1"),
    "hmac": (COMMON, "/api/items/1"),
    "hmac_nocache": ({**COMMON, "cache_seconds": 0}, "/api/items/1"),
}
WARMUP = 200
BASE = 100


def serve(case: str, count: int) -> None:
    """The child: `count` requests through the WSGI handler after the warm-up."""
    config, path = CASES[case]
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.resource_server.settings"
    os.environ["RS_TOKEN_AUTHORIZATION"] = json.dumps(config)
    import django
    import jwt
    from django.core.handlers.wsgi import WSGIHandler

    django.setup()
    app = WSGIHandler()
    now = int(time.time())
    claims = {"sub": "bench", "iss": "https://bench", "aud": "bench", "iat": now, "exp": now + 3600}
    header = f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"

    def start_response(status: str, headers: Any) -> None:
        if not status.startswith("200"):
            raise SystemExit(f"{case}: {status}")

    def request() -> None:
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "HTTP_AUTHORIZATION": header,
            "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        }  # fmt: skip
        b"".join(app(environ, start_response))

    for _ in range(WARMUP + count):
        request()


def instructions(case: str, count: int) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed")
    out = subprocess.run(  # noqa: S603 (our own command)
        [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, __file__, "--child", case, str(count)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stderr  # fmt: skip
    match = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if match is None:
        raise SystemExit(out)
    return int(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        serve(args.child[0], int(args.child[1]))
        return
    per_request = {}
    for case in CASES:
        low, high = instructions(case, BASE), instructions(case, BASE + args.requests)
        per_request[case] = (high - low) / args.requests
        print(f"{case}: {per_request[case]:,.0f} instructions per request", flush=True)
    bare, here = per_request["bare"], per_request["verify_here"]
    print(f"\nverify_here over bare: {here / bare - 1:+.1%} (one HMAC verify with claim checks)")
    print(f"hmac (cached) over bare: {per_request['hmac'] / bare - 1:+.1%}")
    print(f"hmac_nocache over bare: {per_request['hmac_nocache'] / bare - 1:+.1%}")
    print(f"hmac_nocache over verify_here (bare + verify): {per_request['hmac_nocache'] / here - 1:+.1%}")


if __name__ == "__main__":
    main()
