"""The one read of `GET /api/jwt/issue` and of validate's state mode, in hand-built SQL.

A token's user, with what the state rule asks of the token's application and session and, for
issue, the user's registration in the target application, is one row. Built through the ORM (an
annotated QuerySet with Exists and Subquery expressions), compiling it cost about half of an
issue's CPU (py-spy of `bench/inprocess.py issue`, issue 16); here each of its shapes is built
once from the models' metadata and prepared per connection (identity.selectors.rows). Values still
pass through Django's converters, so the user is the instance the ORM would give, and the facts
are the values its annotations gave. Names come from model metadata, quoted by the backend; every
value is a parameter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from django.db import connections

from identity.models import Application, RefreshToken, Registration, User
from identity.selectors.rows import (
    Converters,
    column,
    column_converters,
    converted,
    db_param,
    prepared_fetchone,
    row_instances,
)

USER_FIELDS = tuple(User._meta.concrete_fields)
USER_ATTNAMES = tuple(f.attname for f in USER_FIELDS)


@dataclass(frozen=True)
class TokenUser:
    """The user and, for each fact asked, its value (None where not asked)."""

    user: User
    token_application_active: bool | None
    session_revoked_at: Any
    session_expires_at: Any
    registered: bool | None
    registration_roles: list[str] | None


@dataclass(frozen=True)
class _Select:
    sql: str
    converters: Converters


@cache
def _select(alias: str, application: bool, session: bool, registration: bool) -> _Select:
    q = connections[alias].ops.quote_name
    user, app, rt, reg = (
        q(User._meta.db_table), q(Application._meta.db_table), q(RefreshToken._meta.db_table),
        q(Registration._meta.db_table),
    )  # fmt: skip
    columns = [f"{q('u')}.{q(column(f))}" for f in USER_FIELDS]
    extra: list[Any] = []
    if application:
        columns.append(f"EXISTS (SELECT 1 FROM {app} WHERE {q('id')} = %(application)s AND {q('active')})")
    if session:
        for name in ("revoked_at", "expires_at"):
            columns.append(f"(SELECT {q(name)} FROM {rt} WHERE {q('id')} = %(session)s)")
            extra.append(RefreshToken._meta.get_field(name))
    if registration:
        where = f"{q('user_id')} = {q('u')}.{q('id')} AND {q('application_id')} = %(registration)s"
        columns.append(f"(SELECT {q('roles')} FROM {reg} WHERE {where})")
        extra.append(Registration._meta.get_field("roles"))
        columns.append(f"EXISTS (SELECT 1 FROM {reg} WHERE {where})")  # last: needs no converter
    sql = (
        f"SELECT {', '.join(columns)} FROM {user} {q('u')}"
        f" WHERE {q('u')}.{q('id')} = %(user)s AND {q('u')}.{q('tenant_id')} = %(tenant)s"
    )
    # Converters for the user's columns and the datetimes and roles after them, in select order
    # (the application's EXISTS stands in as a boolean field, which needs none).
    fields: list[Any] = list(USER_FIELDS)
    if application:
        fields.append(Application._meta.get_field("active"))
    fields += extra
    return _Select(sql=sql, converters=column_converters(alias, fields))


def token_user_read(
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    application_id: uuid.UUID | None,
    session_id: uuid.UUID | None,
    registration_for: uuid.UUID | None,
    using: str = "default",
) -> TokenUser | None:
    """The user `user_id` of tenant `tenant_id` (None when there is none) with, in the same row:
    whether `application_id` is an active application, the `revoked_at` and `expires_at` of the
    refresh token `session_id` (both None when there is no such token), and the user's roles in
    `registration_for` (None when not registered there)."""
    connection = connections[using]
    select = _select(using, application_id is not None, session_id is not None, registration_for is not None)
    ids = {
        "user": user_id,
        "tenant": tenant_id,
        "application": application_id,
        "session": session_id,
        "registration": registration_for,
    }
    pk = User._meta.pk
    params = {name: db_param(pk, value, connection) for name, value in ids.items() if value is not None}
    row = prepared_fetchone(connection, select.sql, params)
    if row is None:
        return None
    values = converted(connection, row, select.converters)
    (user,) = row_instances(using, values, ((User, USER_ATTNAMES),))
    rest = iter(values[len(USER_ATTNAMES) :])
    active = bool(next(rest)) if application_id is not None else None
    revoked_at, expires_at = (next(rest), next(rest)) if session_id is not None else (None, None)
    roles, registered = (next(rest), bool(next(rest))) if registration_for is not None else (None, None)
    return TokenUser(
        user=cast(User, user),
        token_application_active=active,
        session_revoked_at=revoked_at,
        session_expires_at=expires_at,
        registered=registered,
        registration_roles=list(roles) if roles is not None else None,
    )
