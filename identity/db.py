"""PostgreSQL connections as Django makes them, with `timestamptz` parsed by psycopg's compiled code.

Django loads every `timestamptz` through a subclass of psycopg's pure-Python loader, only to pin
the result's `tzinfo` (django.db.backends.postgresql.psycopg_any.BaseTzLoader): about 4.5 µs a
value, where psycopg's compiled parser takes about 1. A login reads some forty of them, a refresh a
dozen (issue 16). `timestamptz_loader_install` (on every new connection, identity.apps) registers
a loader that does the same (the same parse, then the same `tzinfo`) through the compiled parser,
when psycopg's C implementation is installed (`psycopg[binary]` or `psycopg[c]`); otherwise
Django's loader stays. tests/test_db.py compares both over hostile and ordinary values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

import psycopg
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg.adapt import Loader
from psycopg.pq import Format

TIMESTAMPTZ_OID = psycopg.postgres.types["timestamptz"].oid
_COMPILED: Any = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
COMPILED_AVAILABLE = _COMPILED is not None and not _COMPILED.__module__.startswith("psycopg.")
"""psycopg's global map holds the compiled loader in place of the Python one when it can."""


class CompiledTzLoader(Loader):
    """psycopg's compiled `timestamptz` parse, then the `tzinfo` Django pins (`timezone`), as
    Django's BaseTzLoader does after the pure-Python parse."""

    timezone: tzinfo | None = None
    connection_parse: Callable[[Any], datetime] | None = None
    """The compiled parse made once for the connection the class is installed on. psycopg makes a
    loader per statement's result, and the compiled loader looks the connection's time zone up
    when it is made (2 % of a login's CPU, three statements); the zone is set before Django
    announces the connection, and only Django sets it."""

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self._parse = self.connection_parse or _COMPILED(oid, context).load

    def load(self, data: Any) -> datetime:
        parsed: datetime = self._parse(data)
        return parsed.replace(tzinfo=self.timezone)


def timestamptz_loader_install(*, connection: BaseDatabaseWrapper, **_: Any) -> None:
    """Django's `connection_created` receiver: on a psycopg 3 connection, the compiled loader with
    the `tzinfo` Django's own loader for this connection pins (so Django's per-cursor check,
    which compares the two, leaves it in place)."""
    raw = connection.connection
    if connection.vendor != "postgresql" or not COMPILED_AVAILABLE or not isinstance(raw, psycopg.Connection):
        return
    current = raw.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if current is None or issubclass(current, CompiledTzLoader):
        return
    parse = staticmethod(_COMPILED(TIMESTAMPTZ_OID, raw).load)
    pinned = type(
        "PinnedTzLoader",
        (CompiledTzLoader,),
        {"timezone": getattr(current, "timezone", None), "connection_parse": parse},
    )
    raw.adapters.register_loader(TIMESTAMPTZ_OID, pinned)
