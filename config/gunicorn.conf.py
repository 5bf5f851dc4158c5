"""gunicorn settings for `make serve` and deploy/identity.service (`gunicorn -c config/gunicorn.conf.py`).

Every value can be changed from the environment (or on the command line, which wins):

- `GUNICORN_BIND` (default `127.0.0.1:8000`): behind nginx keep the loopback address.
- `GUNICORN_WORKERS` or `WEB_CONCURRENCY` (default `2 * CPUs + 1`): worker processes.
- `GUNICORN_TIMEOUT` (30 s) and `GUNICORN_GRACEFUL_TIMEOUT` (30 s): a worker silent for longer is
  restarted; on SIGTERM/SIGHUP workers get that long to finish the requests they hold.
- `GUNICORN_FORWARDED_ALLOW_IPS` (default `127.0.0.1`): the proxies whose `X-Forwarded-Proto`
  gunicorn believes for `wsgi.url_scheme`.

The access log never records query strings (`?refreshToken=...`, `?token=...` may carry secrets),
the `Referer` (which may carry another page's query string) or any request header beyond the user
agent: in particular never `Authorization` (API keys, Bearer tokens) or `Cookie` (token cookies).
It logs the method, the path without its query, the protocol, the status, the size and the time.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))
worker_class = "sync"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Bounded request lines and headers (gunicorn's defaults, written down): a longer request line is
# answered 414 by gunicorn (documented in the OpenAPI schema, identity/openapi.py), a longer header 400.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# %(U)s is the path without the query string; no %(r)s, %(q)s, %(f)s or %({header}i)s atoms.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
# No runtime control socket (gunicorn >= 25): nothing manages the server but its signals.
control_socket_disable = True
