"""One row (and the rows it joins) by a unique key, in SQL built once per database connection.

The login's reads (the API key, the application with its tenant, the user) are each one indexed
row, but building their SELECTs through the ORM cost more CPU than running them (a third of a
login's CPU besides the password hash, measured with cProfile on process time, issue 16). Here the
statement is built once from the models' metadata and reused; values still pass through Django's
converters, so the instances are the ones the ORM would give (every concrete column loaded), on
PostgreSQL and SQLite alike. No ordering: each key is unique (a constraint says so), so at most one
row matches. Names come from model metadata, quoted by the backend; every value is a parameter.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import psycopg
from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

from identity import app_settings
from identity.key_store import key_snapshot

logger = logging.getLogger(__name__)

Converter = Callable[[Any, Any, Any], Any]
Converters = tuple[tuple[int, tuple[Converter, ...], Any], ...]
"""(position in the row, the converters Django runs on that column's raw value, the column)."""


@dataclass(frozen=True)
class Join:
    """`model` joined to the first model of the select by its foreign key `via` (an attname)."""

    model: type[models.Model]
    via: str
    optional: bool = False
    """A nullable foreign key: LEFT OUTER JOIN, and None as the relation when it is null."""


@dataclass(frozen=True)
class _Select:
    sql: str
    parts: tuple[tuple[type[models.Model], tuple[str, ...]], ...]
    """Each selected model with the attnames of its columns, in select order."""
    converters: Converters


def column(field: Any) -> str:
    """The field's column name; a field without one cannot be selected by name."""
    column = field.column
    if column is None:
        raise TypeError(f"{field} has no column")
    return str(column)


_GIVEN_AS_IS: dict[type[models.Field[Any, Any]], type[Any]] = {
    models.DateTimeField: datetime,
    models.CharField: str,
    models.EmailField: str,
    models.TextField: str,
    models.UUIDField: uuid.UUID,
    models.BooleanField: bool,
}
"""Field classes whose `get_db_prep_save` hands PostgreSQL a value of exactly this type unchanged
(a datetime only when it is aware)."""

_INTEGERS: dict[type[models.Field[Any, Any]], str] = {
    kind: kind.__name__
    for kind in (
        models.SmallIntegerField, models.IntegerField, models.BigIntegerField,
        models.PositiveSmallIntegerField, models.PositiveIntegerField, models.PositiveBigIntegerField,
    )
}  # fmt: skip
"""Integer field classes: on psycopg 3 Django wraps an int in the type of the field's size."""


def db_param(field: Any, value: Any, connection: BaseDatabaseWrapper) -> Any:
    """`field.get_db_prep_save(value, connection)`, the parameter the ORM would send for the value.

    A hot statement's parameters went through three to five of Django's calls each (the field's
    prep, `to_python`, a settings read, the backend's adapter), which for the values a service
    hands them change nothing on PostgreSQL: an aware datetime, a str, a UUID, a bool, None, an
    int (wrapped in the size Django gives it). Those are answered here directly (1.6 % of a
    refresh's instructions, 2.5 % of a login's); any other field class or value type (a naive
    datetime, a lazy string, an expression, a custom field, another database) goes through
    `get_db_prep_save` itself.
    `tests/services/test_rows_db_param.py` compares the two for every case."""
    if connection.vendor == "postgresql":
        kind = type(field)
        if kind is models.ForeignKey and type(value) is not str:  # "" may stand for NULL: Django decides
            if value is None:
                return None
            field = field.target_field
            kind = type(field)
        given = _GIVEN_AS_IS.get(kind)
        if given is not None:
            if value is None:
                return None
            if type(value) is given and (given is not datetime or value.tzinfo is not None):
                return value
        elif kind in _INTEGERS and (value is None or type(value) is int):
            wrap = connection.ops.integerfield_type_map[_INTEGERS[kind]]  # type: ignore[attr-defined]
            return None if value is None else wrap(value)  # psycopg 3's Int2/Int4/Int8, as Django gives
    return field.get_db_prep_save(value, connection=connection)


@cache
def _select(alias: str, model: type[models.Model], joins: tuple[Join, ...], keys: tuple[str, ...]) -> _Select:
    connection = connections[alias]
    q = connection.ops.quote_name
    models_ = (model, *(j.model for j in joins))
    fields = [tuple(m._meta.concrete_fields) for m in models_]
    columns = [f"{q(f't{i}')}.{q(column(f))}" for i, part in enumerate(fields) for f in part]
    sql = f"SELECT {', '.join(columns)} FROM {q(model._meta.db_table)} {q('t0')}"
    for i, join in enumerate(joins, start=1):
        via = column(model._meta.get_field(join.via))
        pk = column(join.model._meta.pk)
        kind = "LEFT OUTER JOIN" if join.optional else "INNER JOIN"
        table, name = q(join.model._meta.db_table), q(f"t{i}")
        sql += f" {kind} {table} {name} ON {name}.{q(pk)} = {q('t0')}.{q(via)}"
    conditions = " AND ".join(f"{q('t0')}.{q(column(model._meta.get_field(k)))} = %s" for k in keys)
    sql += f" WHERE {conditions}"
    return _Select(
        sql=sql,
        parts=tuple((m, tuple(f.attname for f in part)) for m, part in zip(models_, fields, strict=True)),
        converters=column_converters(alias, (f for part in fields for f in part)),
    )


MEMORY_MAX_ROWS = 4096
"""Rows a process remembers per key snapshot; past it, it starts over (each is a few hundred bytes)."""


def row_by_unique_key(
    model: type[models.Model],
    key: dict[str, Any],
    *,
    joins: Sequence[Join] = (),
    using: str = "default",
    remember: bool = False,
) -> list[models.Model] | None:
    """The row of `model` whose columns equal `key` (a unique key: at most one row) and the rows
    of `joins` it points to, as model instances in that order, each join set on the first as its
    cached relation; None when there is no such row.

    With `remember` (for an API key, an application or a tenant, whose every change goes through
    identity.key_store.key_store_invalidate), a row found outside a transaction is kept with the
    process's key snapshot and answered from there until the snapshot is dropped: at most a check
    interval after a change, in every process, as the keys themselves. Never for a read that is
    written back. Only rows found are kept (garbage input costs a lookup each time, never memory),
    and only outside a transaction (a row seen inside one may yet roll back). Each answer is new
    instances built from the kept raw values, as a fresh read would give them."""
    connection = connections[using]
    names = tuple(key)
    select = _select(using, model, tuple(joins), names)
    params = [db_param(model._meta.get_field(n), key[n], connection) for n in names]
    memory = _memory(connection) if remember else None
    memory_key = (using, select.sql, *params) if memory is not None else None
    kept = memory.get(memory_key) if memory is not None else None
    row: Sequence[Any] | None
    if kept is not None:
        row = _own_copy(*kept)
    else:
        row = prepared_fetchone(connection, select.sql, params)
        if row is None:
            return None
        if memory is not None:
            if len(memory) >= MEMORY_MAX_ROWS:
                memory.clear()
            kept = (tuple(row), tuple(i for i, value in enumerate(row) if type(value) is list))
            memory[memory_key] = kept
            row = _own_copy(*kept)
    instances = row_instances(using, converted(connection, row, select.converters), select.parts)
    for join, related in zip(joins, instances[1:], strict=True):
        field = model._meta.get_field(join.via)
        field.set_cached_value(instances[0], related if related.pk is not None else None)  # type: ignore[union-attr]
    return instances


def _own_copy(values: tuple[Any, ...], lists: tuple[int, ...]) -> Sequence[Any]:
    """A kept row's raw values with a new copy of each list in it (an array column), so that no
    answer shares a mutable value with the memory or with another answer. The positions of the
    lists are found once, when the row is kept, not on every answer (a tenant's row has dozens of
    columns and usually no list)."""
    if not lists:
        return values
    row = list(values)
    for index in lists:
        row[index] = list(row[index])
    return row


def _memory(connection: BaseDatabaseWrapper) -> dict[Hashable, tuple[Any, ...]] | None:
    if connection.in_atomic_block:
        return None
    try:
        return key_snapshot().rows
    except Exception:
        # A key store that cannot be built (a key that no longer decrypts, say) fails the paths
        # that sign and verify, not the ones that only read a row: those read it from the database.
        logger.exception("key store unavailable; reading the row without remembering it")
        return None


def column_converters(alias: str, fields: Iterable[Any]) -> Converters:
    """For each selected field, in select order, that needs any: what Django runs on its column's
    raw value to give the ORM's value (the same chain a QuerySet runs)."""
    connection = connections[alias]
    found = []
    for index, field in enumerate(fields):
        col = field.get_col(field.model._meta.db_table)
        chain = tuple(connection.ops.get_db_converters(col)) + tuple(field.get_db_converters(connection))
        if chain:
            found.append((index, chain, col))
    return tuple(found)


def converted(connection: BaseDatabaseWrapper, row: Sequence[Any], converters: Converters) -> list[Any]:
    """A raw row's values as the ORM would hand them to `Model.from_db` (on `connection`, the one
    the row came from)."""
    values = list(row)
    for index, chain, col in converters:
        for convert in chain:
            values[index] = convert(values[index], col, connection)
    return values


def row_instances(
    alias: str, values: Sequence[Any], parts: Iterable[tuple[type[models.Model], Sequence[str]]]
) -> list[models.Model]:
    """Consecutive runs of `values`, one per (model, attnames), as instances loaded from the
    database (what `Model.from_db` builds); values past the last run are the caller's."""
    instances = []
    offset = 0
    signalled = bool(pre_init.receivers or post_init.receivers)
    for model, attnames in parts:
        names = tuple(attnames)
        count = len(names)
        run = values[offset : offset + count]
        if signalled or not _stored_as_given(model, names):
            instances.append(model.from_db(alias, _name_set(names), run))
        else:
            instance = model.__new__(model)
            state = instance._state = ModelState()
            state.adding, state.db = False, alias
            instance.__dict__.update(zip(names, run, strict=True))
            instances.append(instance)
        offset += count
    return instances


@cache
def _stored_as_given(model: type[models.Model], attnames: tuple[str, ...]) -> bool:
    """Whether `Model.__init__` would do no more with these values than store them in the
    instance's `__dict__` (so `row_instances` stores them itself; Model.__init__ was 5 % of a
    refresh's CPU, most of it walking the fields that were not loaded). It would when each is a
    concrete field behind Django's deferred-loading descriptor (a foreign key's also has a setter,
    which only drops a cached related object that a new instance cannot have yet), and no pre_init
    or post_init receiver is connected (checked on every call). tests/services/test_rows.py
    compares both builds."""
    plain = (DeferredAttribute, ForeignKeyDeferredAttribute)
    concrete = {f.attname for f in model._meta.concrete_fields}
    return not model._meta.abstract and all(
        a in concrete and type(getattr(model, a, None)) in plain for a in attnames
    )


@cache
def _name_set(attnames: tuple[str, ...]) -> frozenset[str]:
    """The loaded names as a set: `Model.from_db` asks, for each of the model's fields, whether it
    is among them (a scan of the tuple per field, 4 % of a refresh's CPU over four models)."""
    return frozenset(attnames)


NEVER_AUTOMATICALLY = 2**31 - 1
"""psycopg's prepare_threshold on our connections: only `prepare=True` prepares."""


class _PreparingCursor(psycopg.Cursor[Any]):
    """psycopg's server-binding cursor, preparing every statement it executes (once per connection:
    psycopg keeps the prepared statements of each connection, the least recently used dropped past
    its `prepared_max`, 100)."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)

    def _convert_query(self, query: Any, params: Any = None) -> Any:
        # Kept, as psycopg's client-binding cursor keeps it, so Django's query log (DEBUG,
        # CaptureQueriesContext) records the statement's text (with $n placeholders) and not None.
        converted_query = super()._convert_query(query, params)
        self._query = converted_query
        return converted_query


def prepared_fetchone(connection: BaseDatabaseWrapper, sql: str, params: Any) -> Sequence[Any] | None:
    """The first row of one hand-built statement, run prepared (_run); None: no row."""
    row: Sequence[Any] | None = _run(connection, sql, params, _fetchone)
    return row


def prepared_fetchall(connection: BaseDatabaseWrapper, sql: str, params: Any) -> list[Sequence[Any]]:
    """Every row of one hand-built statement, run prepared (_run)."""
    rows: list[Sequence[Any]] = _run(connection, sql, params, _fetchall)
    return rows


def prepared_rowcount(connection: BaseDatabaseWrapper, sql: str, params: Any) -> int:
    """How many rows one hand-built statement (an UPDATE, say) touched, run prepared (_run)."""
    return int(_run(connection, sql, params, _rowcount))


def _fetchone(cursor: Any) -> Any:
    return cursor.fetchone()


def _fetchall(cursor: Any) -> Any:
    return cursor.fetchall()


def _rowcount(cursor: Any) -> Any:
    return cursor.rowcount


def _run(connection: BaseDatabaseWrapper, sql: str, params: Any, read: Callable[[Any], Any]) -> Any:
    """Run one of the hot paths' hand-built statements and `read` its result.

    Each is the same text every time, and planning one cost PostgreSQL several times as much as
    running it (EXPLAIN ANALYZE of the refresh SELECT: 0.37 ms planning, 0.06 ms execution), so on
    PostgreSQL (psycopg 3) it is prepared once per connection (bound on the server), on one cursor
    the connection keeps (_kept_cursor): making and closing a psycopg cursor per statement, and
    passing it through Django's cursor wrapper, cost 102,235 of a refresh's 2,494,206
    instructions (bench/instructions.sh). Django's wrapper is still used whenever anything watches
    statements (query logging, CaptureQueriesContext, execute wrappers), so they all see these
    too; errors are Django's either way. `IDENTITY_PREPARED_STATEMENTS` turns preparing off
    (behind a PgBouncer older than 1.21 in transaction mode; docs/scaling.md): then, as on SQLite,
    Django's own cursor runs it."""
    kept = _kept_cursor(connection)
    if kept is None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return read(cursor)
    if connection.queries_logged or connection.execute_wrappers:
        wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
        wrap(kept).execute(sql, params)  # type: ignore[arg-type]  # (django-stubs: any DB-API cursor)
        with connection.wrap_database_errors:
            return read(kept)  # not closed: the connection keeps it
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        kept.execute(sql, params)
        return read(kept)


def _kept_cursor(connection: BaseDatabaseWrapper) -> psycopg.Cursor[Any] | None:
    """The connection's preparing cursor (made on first use, and again after a reconnection), or
    None where statements are not prepared (not psycopg 3 on PostgreSQL, or turned off)."""
    if connection.vendor != "postgresql" or not app_settings.prepared_statements():
        return None
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()  # as Django's own cursor() does, watched or not
    raw = connection.connection
    kept: tuple[Any, _PreparingCursor] | None = connection.__dict__.get(_KEPT)
    if kept is not None and kept[0] is raw:
        return kept[1]
    if not isinstance(raw, psycopg.Connection):
        return None
    if raw.prepare_threshold is None:
        # Django turns psycopg's preparing off (None), which `prepare=True` cannot override; a
        # threshold no statement reaches keeps every other cursor unprepared, as before.
        raw.prepare_threshold = NEVER_AUTOMATICALLY
    cursor = _PreparingCursor(raw)
    connection.__dict__[_KEPT] = (raw, cursor)
    return cursor


_KEPT = "_identity_kept_cursor"
