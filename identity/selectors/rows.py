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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connections, models

Converter = Callable[[Any, Any, Any], Any]


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
    widths: tuple[int, ...]
    attnames: tuple[tuple[str, ...], ...]
    converters: tuple[tuple[int, tuple[Converter, ...], Any], ...]


def _column(field: Any) -> str:
    column = field.column
    if column is None:
        raise TypeError(f"{field} has no column")
    return str(column)


@cache
def _select(alias: str, model: type[models.Model], joins: tuple[Join, ...], keys: tuple[str, ...]) -> _Select:
    connection = connections[alias]
    q = connection.ops.quote_name
    models_ = (model, *(j.model for j in joins))
    fields = [tuple(m._meta.concrete_fields) for m in models_]
    columns = [f"{q(f't{i}')}.{q(_column(f))}" for i, part in enumerate(fields) for f in part]
    sql = f"SELECT {', '.join(columns)} FROM {q(model._meta.db_table)} {q('t0')}"
    for i, join in enumerate(joins, start=1):
        via = _column(model._meta.get_field(join.via))
        pk = _column(join.model._meta.pk)
        kind = "LEFT OUTER JOIN" if join.optional else "INNER JOIN"
        table, name = q(join.model._meta.db_table), q(f"t{i}")
        sql += f" {kind} {table} {name} ON {name}.{q(pk)} = {q('t0')}.{q(via)}"
    conditions = " AND ".join(f"{q('t0')}.{q(_column(model._meta.get_field(k)))} = %s" for k in keys)
    sql += f" WHERE {conditions}"
    converters = []
    index = 0
    for m, part in zip(models_, fields, strict=True):
        for field in part:
            column = field.get_col(m._meta.db_table)
            chain = tuple(connection.ops.get_db_converters(column)) + tuple(
                field.get_db_converters(connection)
            )
            if chain:
                converters.append((index, chain, column))
            index += 1
    return _Select(
        sql=sql,
        widths=tuple(len(part) for part in fields),
        attnames=tuple(tuple(f.attname for f in part) for part in fields),
        converters=tuple(converters),
    )


def row_by_unique_key(
    model: type[models.Model],
    key: dict[str, Any],
    *,
    joins: Sequence[Join] = (),
    using: str = "default",
) -> list[models.Model] | None:
    """The row of `model` whose columns equal `key` (a unique key: at most one row) and the rows
    of `joins` it points to, as model instances in that order, each join set on the first as its
    cached relation; None when there is no such row."""
    connection = connections[using]
    names = tuple(key)
    select = _select(using, model, tuple(joins), names)
    params = [model._meta.get_field(n).get_db_prep_value(key[n], connection) for n in names]  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        cursor.execute(select.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, chain, column in select.converters:
        for convert in chain:
            values[index] = convert(values[index], column, connection)
    instances = []
    offset = 0
    for m, width, attnames in zip(
        (model, *(j.model for j in joins)), select.widths, select.attnames, strict=True
    ):
        instances.append(m.from_db(using, attnames, values[offset : offset + width]))
        offset += width
    for join, related in zip(joins, instances[1:], strict=True):
        field = model._meta.get_field(join.via)
        field.set_cached_value(instances[0], related if related.pk is not None else None)  # type: ignore[union-attr]
    return instances
