"""The read and write paths of a refresh token, in hand-built SQL: on PostgreSQL usually one
statement per refresh (refresh_token_consume: the conditional UPDATE and the read of the token's
context together), else one SELECT by the token id a value carries (refresh_token_context) and one
conditional UPDATE (refresh_token_write).

Building these statements through the ORM costs more CPU than running them (about 1.5 ms of a
~4 ms request, measured with py-spy under bench/run_http.py), so they are built once per database
connection from the models' own metadata and reused. Values still pass through Django's
converters in both directions, so the results are the same model instances the ORM would give,
on PostgreSQL and SQLite alike. Only the columns an exchange and the new access token read are
loaded; touching any other column loads it lazily, which the query-count tests would catch.
The read returns a frozen RefreshTokenContext, the effective JWT configuration computed once in
it.

On PostgreSQL the statements of a refresh are also prepared once per connection (server-side
binding, psycopg's `prepare=True`, on a cursor the connection keeps: identity.selectors.rows'
prepared_fetchone and prepared_rowcount): planning the five-table SELECT cost PostgreSQL about six
times as much as running it (EXPLAIN ANALYZE: 0.37 ms planning, 0.06 ms execution). Query logging,
CaptureQueriesContext and execute wrappers still see them. `IDENTITY_PREPARED_STATEMENTS` turns
this off (behind a PgBouncer older than 1.21 in transaction mode; docs/scaling.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections, models

from identity.models import Application, RefreshToken, Registration, Tenant, User
from identity.selectors import JWT_CONFIGURATION_ATTNAMES as JWT_ATTNAMES
from identity.selectors import JWTConfiguration, jwt_configuration_for
from identity.selectors.rows import (
    Converters,
    column,
    column_converters,
    converted,
    db_param,
    prepared_fetchone,
    prepared_rowcount,
    row_instances,
)

TOKEN_ATTNAMES = (
    "id", "family_id", "tenant_id", "application_id", "user_id", "token_digest", "generation", "value_salt",
    "started_at", "expires_at", "revoked_at", "rotated_at", "last_used_at", "last_accessed_address",
)  # fmt: skip
USER_ATTNAMES = ("id", "tenant_id", "email", "username", "is_active", "verified", "expires_at")
APPLICATION_ATTNAMES = ("id", "tenant_id", "active", "allow_token_refresh", "jwt_enabled", *JWT_ATTNAMES)
TENANT_ATTNAMES = ("id", "issuer", "revoke_on_one_time_token_reuse", *JWT_ATTNAMES)


@dataclass(frozen=True)
class _Part:
    model: type[models.Model]
    alias: str
    attnames: tuple[str, ...]
    fields: tuple[models.Field[Any, Any], ...]


def _part(model: type[models.Model], alias: str, attnames: Sequence[str]) -> _Part:
    # Model.from_db takes loaded values in the model's field order, so select them in that order.
    fields = tuple(f for f in model._meta.concrete_fields if f.attname in attnames)
    if len(fields) != len(attnames):
        raise TypeError(f"Unknown columns for {model.__name__}: {attnames}")
    return _Part(model, alias, tuple(f.attname for f in fields), fields)


PARTS = (
    _part(RefreshToken, "rt", TOKEN_ATTNAMES),
    _part(User, "u", USER_ATTNAMES),
    _part(Application, "a", APPLICATION_ATTNAMES),
    _part(Tenant, "t", TENANT_ATTNAMES),
)
ROLES_FIELD = Registration._meta.get_field("roles")


@dataclass(frozen=True)
class _Select:
    sql: str
    converters: Converters


@dataclass(frozen=True)
class RefreshTokenContext:
    """Everything a refresh reads, loaded together: the token, its user, application and tenant,
    the user's roles in the application (None when no longer registered) and the application's
    effective JWT configuration."""

    token: RefreshToken
    user: User
    application: Application
    tenant: Tenant
    roles: list[str] | None
    config: JWTConfiguration

    def refreshable(self, now: datetime) -> bool:
        """The session stands (RefreshToken.is_usable), its user may still use it (active, not
        expired), its application is active and allows refresh, and the user is still registered."""
        return (
            self.token.is_usable(now)
            and self.user.is_active
            and not self.user.is_expired(now)
            and self.application.active
            and self.application.allow_token_refresh
            and self.roles is not None
        )


def _joined(q: Any) -> str:
    """The joins from a token row (`rt`, a table or a CTE) to its user, application, tenant and
    registration, every name from model metadata quoted by the backend."""
    u, a, t, r = (
        q(User._meta.db_table), q(Application._meta.db_table), q(Tenant._meta.db_table),
        q(Registration._meta.db_table),
    )  # fmt: skip
    return (
        f" INNER JOIN {u} {q('u')} ON {q('u')}.{q('id')} = {q('rt')}.{q('user_id')}"
        f" INNER JOIN {a} {q('a')} ON {q('a')}.{q('id')} = {q('rt')}.{q('application_id')}"
        f" INNER JOIN {t} {q('t')} ON {q('t')}.{q('id')} = {q('a')}.{q('tenant_id')}"
        f" LEFT OUTER JOIN {r} {q('r')} ON {q('r')}.{q('user_id')} = {q('rt')}.{q('user_id')}"
        f" AND {q('r')}.{q('application_id')} = {q('rt')}.{q('application_id')}"
    )


def _context_columns(q: Any) -> list[str]:
    columns = [f"{q(p.alias)}.{q(column(f))}" for p in PARTS for f in p.fields]
    columns.append(f"{q('r')}.{q(column(ROLES_FIELD))}")
    return columns


_CONTEXT_FIELDS = (*(f for p in PARTS for f in p.fields), ROLES_FIELD)


@cache
def _select(alias: str) -> _Select:
    q = connections[alias].ops.quote_name
    # Every name below comes from model metadata, quoted by the backend; the only value is a parameter.
    sql = (
        f"SELECT {', '.join(_context_columns(q))} FROM {q(RefreshToken._meta.db_table)} {q('rt')}"
        f"{_joined(q)} WHERE {q('rt')}.{q('id')} = %s"
    )
    return _Select(sql=sql, converters=column_converters(alias, _CONTEXT_FIELDS))


def _context(using: str, values: list[Any]) -> RefreshTokenContext:
    """The context from a row of `_context_columns` (converted)."""
    instances = row_instances(using, values, ((part.model, part.attnames) for part in PARTS))
    token, user, application, tenant = instances
    Application.tenant.field.set_cached_value(application, tenant)
    RefreshToken.user.field.set_cached_value(token, user)
    RefreshToken.application.field.set_cached_value(token, application)
    if token.tenant_id == tenant.pk:  # type: ignore[attr-defined]
        RefreshToken.tenant.field.set_cached_value(token, tenant)
    roles = values[len(_CONTEXT_FIELDS) - 1]  # the registration's roles, selected after the parts
    return RefreshTokenContext(
        token=token,  # type: ignore[arg-type]
        user=user,  # type: ignore[arg-type]
        application=application,  # type: ignore[arg-type]
        tenant=tenant,  # type: ignore[arg-type]
        roles=list(roles) if roles is not None else None,
        config=jwt_configuration_for(application=application),  # type: ignore[arg-type]
    )


def refresh_token_context(*, token_id: uuid.UUID, using: str = "default") -> RefreshTokenContext | None:
    """The token with this id (the one a value names) in its context; None when there is none.
    Not locked: the write that consumes it is conditional instead. Read by primary key, not by
    the digest of the presented value: the caller compares the digest (refresh_grant), and the
    table keeps no index on it, so a rotation changes no indexed column (a HOT update when its
    page has room)."""
    connection = connections[using]
    select = _select(using)
    param = db_param(RefreshToken._meta.pk, token_id, connection)
    row = prepared_fetchone(connection, select.sql, [param])
    if row is None:
        return None
    return _context(using, converted(connection, row, select.converters))


def refresh_token_consume_supported(*, using: str = "default") -> bool:
    """Whether refresh_token_consume can run here: PostgreSQL only (SQLite's RETURNING cannot
    reach other tables, and an UPDATE cannot be a CTE there)."""
    return connections[using].vendor == "postgresql"


@cache
def _consume_sql(alias: str, attnames: tuple[str, ...]) -> tuple[_Select, tuple[models.Field[Any, Any], ...]]:
    q = connections[alias].ops.quote_name
    by_attname = {f.attname: f for f in RefreshToken._meta.concrete_fields}
    fields = tuple(by_attname[a] for a in attnames)
    table = q(RefreshToken._meta.db_table)
    assignments = ", ".join(f"{q(column(f))} = %s" for f in fields)
    returned = ", ".join(q(column(f)) for f in PARTS[0].fields)
    before = ", ".join(q(column(f)) for f in fields)
    previous = ", ".join(f"{q('prev')}.{q(column(f))}" for f in fields)
    # `prev` reads the row as the statement's snapshot has it, before the UPDATE in the same
    # statement (PostgreSQL runs every part of a statement on one snapshot). Names from model
    # metadata, quoted by the backend; the values are parameters.
    sql = (
        f"WITH {q('prev')} AS (SELECT {before} FROM {table} WHERE {q('id')} = %s),"
        f" {q('rt')} AS (UPDATE {table} SET {assignments}"
        f" WHERE {q('id')} = %s AND {q('token_digest')} = %s AND {q('revoked_at')} IS NULL"
        f" RETURNING {returned})"
        f" SELECT {', '.join(_context_columns(q))}, {previous}"
        f" FROM {q('rt')}{_joined(q)} CROSS JOIN {q('prev')}"
    )
    return _Select(sql=sql, converters=column_converters(alias, (*_CONTEXT_FIELDS, *fields))), fields


def refresh_token_consume(
    *, token_id: uuid.UUID, expected_digest: str, changes: dict[str, Any], using: str = "default"
) -> RefreshTokenContext | None:
    """Write `changes` to the token if its current digest is `expected_digest` and it is not
    revoked (refresh_token_write's condition) and read its context, in one statement: None when
    nothing was written. The context's token holds the values the row had *before* this write, as
    refresh_token_context would have read them, so the caller can judge the use it has already
    made (and undo it with refresh_token_write when the rules refuse it). PostgreSQL only
    (refresh_token_consume_supported)."""
    connection = connections[using]
    select, fields = _consume_sql(using, tuple(sorted(changes)))
    pk = db_param(RefreshToken._meta.pk, token_id, connection)
    params = [pk, *(db_param(f, changes[f.attname], connection) for f in fields)]
    params += [pk, expected_digest]
    row = prepared_fetchone(connection, select.sql, params)
    if row is None:
        return None
    values = converted(connection, row, select.converters)
    context = _context(using, values)
    for field, value in zip(fields, values[len(_CONTEXT_FIELDS) :], strict=True):
        setattr(context.token, field.attname, value)
    return context


@cache
def _update_sql(alias: str, attnames: tuple[str, ...]) -> tuple[str, tuple[models.Field[Any, Any], ...]]:
    q = connections[alias].ops.quote_name
    by_attname = {f.attname: f for f in RefreshToken._meta.concrete_fields}
    fields = tuple(by_attname[a] for a in attnames)
    assignments = ", ".join(f"{q(column(f))} = %s" for f in fields)
    table = q(RefreshToken._meta.db_table)
    condition = f"{q('id')} = %s AND {q('token_digest')} = %s AND {q('revoked_at')} IS NULL"
    return f"UPDATE {table} SET {assignments} WHERE {condition}", fields


def refresh_token_write(
    *, token: RefreshToken, changes: dict[str, Any], expected_digest: str, using: str = "default"
) -> bool:
    """Write `changes` to the token's row if it still has `expected_digest` and is not revoked
    (one atomic UPDATE); whether it did. This is what makes a one-time value usable only once."""
    connection = connections[using]
    sql, fields = _update_sql(using, tuple(sorted(changes)))
    params = [db_param(f, changes[f.attname], connection) for f in fields]
    params += [db_param(RefreshToken._meta.pk, token.pk, connection), expected_digest]
    return prepared_rowcount(connection, sql, params) == 1


PURGE_KEYS = ("expires_at", "revoked_at")
"""The columns a purge pass is keyed by; each has a (column, id) index (identity_rt_*_id)."""


@cache
def _purge_sql(alias: str, column: str, first: bool) -> str:
    q = connections[alias].ops.quote_name
    table, pk, key = q(RefreshToken._meta.db_table), q("id"), q(column)
    after = "" if first else f" AND ({key}, {pk}) > (%s, %s)"
    # Names from model metadata, quoted by the backend; cutoff, cursor and size are parameters.
    return (
        f"DELETE FROM {table} WHERE {pk} IN ("
        f"SELECT {pk} FROM {table} WHERE {key} < %s{after}"
        f" ORDER BY {key}, {pk} LIMIT %s) RETURNING {key}, {pk}"
    )


def refresh_token_purge_batch(
    *, column: str, cutoff: datetime, after: tuple[Any, Any] | None, size: int, using: str = "default"
) -> tuple[int, tuple[Any, Any] | None]:
    """Delete up to `size` tokens whose `column` (expires_at or revoked_at) is before `cutoff`: the
    first ones in (column, id) order after the cursor `after` (None: from the start), in one
    statement. Returns how many it deleted and the cursor to continue from (None when nothing was
    left). The cursor holds the database's own values, passed back as they came, so the next batch
    starts by the index exactly where this one ended, however many rows share an instant, and never
    walks over the index entries of rows already deleted (keyset, not OFFSET or a rescan)."""
    if column not in PURGE_KEYS:
        raise ValueError(f"No purge index on {column}")
    connection = connections[using]
    params: list[Any] = [connection.ops.adapt_datetimefield_value(cutoff)]
    if after is not None:
        params += list(after)
    last: tuple[Any, Any] | None = None
    count = 0
    with connection.cursor() as cursor:
        cursor.execute(_purge_sql(using, column, after is None), [*params, size])
        for row in cursor.fetchall():
            count += 1
            if last is None or tuple(row) > last:
                last = (row[0], row[1])
    return count, last
