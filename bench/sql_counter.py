"""WSGI wrapper of `make bench`: serves the application named by BENCH_WSGI_APP (`module:name`) and
adds an `X-Bench-SQL` header with the number of SQL statements the request ran, counted with
Django's `connection.execute_wrapper` plus the BEGIN, COMMIT and ROLLBACK Django sends itself
(through `debug_transaction`): what `CaptureQueriesContext` sees, so the figure is the one
tests/test_query_budgets.py asserts. bench/wrk/bench.lua adds them up. The cost is one Python call
per statement; the served application is otherwise unchanged.

It also adds `X-Bench-Hash-Us`: the thread CPU, in microseconds, the request spent inside
argon2-cffi's `verify_secret` (the password hash of a login, ours or the peer's), so a login's CPU
splits into the hash and the work around it within the same requests (two clock reads per verify;
nothing for requests that hash no password)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from typing import Any

module_name, _, attribute = os.environ["BENCH_WSGI_APP"].partition(":")
_app = getattr(importlib.import_module(module_name), attribute or "application")

import contextlib
from collections.abc import Iterator

from django.db import connection
from django.db.backends.base import base as backend_base
from hash_clock import HashClock  # bench/ (gunicorn's --pythonpath)

_transaction_statements = [0]
_debug_transaction = backend_base.debug_transaction


@contextlib.contextmanager
def _counted_transaction(db: Any, sql: str) -> Iterator[None]:
    _transaction_statements[0] += 1
    with _debug_transaction(db, sql):
        yield


backend_base.debug_transaction = _counted_transaction  # type: ignore[assignment]

try:
    _hashing: HashClock | None = HashClock()
except ImportError:  # a served project without argon2-cffi
    _hashing = None


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    count = 0
    transactions_before = _transaction_statements[0]
    hash_before = _hashing.seconds if _hashing is not None else 0.0

    def counter(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        total = count + _transaction_statements[0] - transactions_before
        hashed = round((_hashing.seconds - hash_before) * 1e6) if _hashing is not None else 0
        extra = [("X-Bench-SQL", str(total)), ("X-Bench-Hash-Us", str(hashed))]
        return start_response(status, [*headers, *extra], exc_info)

    with connection.execute_wrapper(counter):
        return _app(environ, start)
