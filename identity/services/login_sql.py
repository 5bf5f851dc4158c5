"""What a successful login writes, as one PostgreSQL statement (issue 16: login ≤ 5 statements).

login_success records a login with four writes: the user's row (last login, the failure counter
cleared), the registration's last login, the eviction of sessions beyond the tenant's per-user
limit (with its audit entry) and the new refresh token. Through the ORM they cost a transaction of
nine statements; here they are one statement of data-modifying CTEs, atomic on its own (no BEGIN
or COMMIT), which also returns the user's registrations (the login's response lists them).

Every write hangs on the user's UPDATE, conditional as the ORM path's is (login_success's account
state rule) and on one thing more: the row's `xmin` must still be the one this statement's
snapshot saw. In READ COMMITTED a statement's snapshot is taken before it waits for a row lock;
if another transaction changed the user's row meanwhile (a concurrent login, a lock, a refresh
token created by the issue path, which locks the user with an UPDATE for this reason), the
counts this statement made of the user's live sessions could miss its rows. The UPDATE then
matches nothing, nothing is written, and the caller takes the ORM path, which locks the row
first. So the per-user limit holds under concurrency as it did, and a race costs one wasted
statement, never a wrong count.

PostgreSQL only (SQLite has no data-modifying CTEs: the ORM path serves it, one writer at a
time). Names come from model metadata, quoted by the backend; every value is a parameter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections

from identity.models import AuditEntry, RefreshToken, Registration, Tenant, User
from identity.selectors.rows import (
    Converters,
    column,
    column_converters,
    converted,
    db_param,
    prepared_fetchall,
)

REGISTRATION_FIELDS = tuple(Registration._meta.concrete_fields)
TOKEN_FIELDS = tuple(RefreshToken._meta.concrete_fields)
AUDIT_ENTRY_FIELDS = tuple(
    f for f in AuditEntry._meta.concrete_fields if not f.primary_key and f.name != "count"
)


@dataclass(frozen=True)
class LoginRecorded:
    registrations: list[Registration]
    """All the user's registrations, oldest first (the registration logged in to carries `now`)."""
    token_inserted: bool
    evicted: int


@cache
def _sql(alias: str, changed: tuple[str, ...], with_application: bool, with_token: bool) -> str:
    q = connections[alias].ops.quote_name
    user, reg, rt, audit = (
        q(User._meta.db_table), q(Registration._meta.db_table), q(RefreshToken._meta.db_table),
        q(AuditEntry._meta.db_table),
    )  # fmt: skip
    assignments = ", ".join(f"{q(column(User._meta.get_field(name)))} = %({name})s" for name in changed)
    parts = [
        f"g AS (SELECT xmin AS x FROM {user} WHERE {q('id')} = %(user)s)",
        f"u AS (UPDATE {user} SET {assignments} WHERE {q('id')} = %(user)s AND {q('is_active')}"
        f" AND ({q('locked_until')} IS NULL OR {q('locked_until')} <= %(now)s)"
        f" AND ({q('expires_at')} IS NULL OR {q('expires_at')} > %(now)s)"
        f" AND xmin = (SELECT x FROM g) RETURNING {q('id')})",
    ]
    if with_application:
        parts.append(
            f"r AS (UPDATE {reg} SET {q('last_login_at')} = %(now)s WHERE {q('user_id')} = %(user)s"
            f" AND {q('application_id')} = %(application)s AND EXISTS (SELECT 1 FROM u) RETURNING {q('id')})"
        )
    if with_token:
        # The families past the limit, computed once: as a subquery of the UPDATE below, PostgreSQL
        # ran it again for each of the user's live tokens (a nested loop: n² rows sorted per login).
        parts.append(
            f"old AS MATERIALIZED (SELECT {q('family_id')} FROM {rt} WHERE {q('user_id')} = %(user)s"
            f" AND {q('revoked_at')} IS NULL AND {q('expires_at')} > %(now)s"
            f" ORDER BY {q('created_at')} DESC, {q('id')} DESC OFFSET %(keep)s)"
        )
        parts.append(
            f"ev AS (UPDATE {rt} SET {q('revoked_at')} = %(now)s, {q('revoke_reason')} = %(reason)s"
            f" WHERE {q('user_id')} = %(user)s AND {q('revoked_at')} IS NULL"
            f" AND {q('family_id')} IN (SELECT {q('family_id')} FROM old)"
            f" AND EXISTS (SELECT 1 FROM r) RETURNING {q('id')})"
        )
        columns = ", ".join(q(column(f)) for f in TOKEN_FIELDS)
        values = ", ".join(f"%(t_{f.attname})s" for f in TOKEN_FIELDS)
        parts.append(
            f"i AS (INSERT INTO {rt} ({columns}) SELECT {values}"
            f" WHERE EXISTS (SELECT 1 FROM r) RETURNING {q('id')})"
        )
        audit_columns = ", ".join(q(column(f)) for f in AUDIT_ENTRY_FIELDS)
        audit_values = ", ".join(f"%(a_{f.attname})s" for f in AUDIT_ENTRY_FIELDS)
        parts.append(
            f"au AS (INSERT INTO {audit} ({audit_columns}, {q('count')})"
            f" SELECT {audit_values}, COUNT(*) FROM ev HAVING COUNT(*) > 0)"
        )
    counts = ["(SELECT COUNT(*) FROM u)"]
    counts += ["(SELECT COUNT(*) FROM i)", "(SELECT COUNT(*) FROM ev)"] if with_token else ["0", "0"]
    registration_columns = ", ".join(f"{q('reg')}.{q(column(f))}" for f in REGISTRATION_FIELDS)
    return (
        f"WITH {', '.join(parts)} SELECT {', '.join(counts)}, {registration_columns}"
        f" FROM (SELECT 1) AS {q('one')}"
        f" LEFT OUTER JOIN {reg} {q('reg')} ON {q('reg')}.{q('user_id')} = %(user)s"
        f" ORDER BY {q('reg')}.{q('created_at')}"
    )


@cache
def _converters(alias: str) -> Converters:
    return column_converters(alias, REGISTRATION_FIELDS)


def login_record(
    *,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    application_id: uuid.UUID | None,
    token: RefreshToken | None,
    keep: int,
    eviction: AuditEntry | None,
    revoke_reason: str,
    now: datetime,
    using: str = "default",
) -> LoginRecorded | None:
    """Record a login in one statement: `changes` to the user's row (conditional on the account
    state rule and on no concurrent change, see the module), the registration's `last_login_at`
    for `application_id`, and, when `token` is given and the user is registered for the
    application, the oldest live sessions beyond the newest `keep` revoked (their families whole;
    `eviction` is the audit entry written when any were) and `token` inserted. None when nothing
    was written: the caller takes the ORM path, which says why or does it under a lock."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise NotImplementedError("login_record needs PostgreSQL")
    with_application = application_id is not None
    with_token = token is not None and with_application
    changed = tuple(sorted(changes))
    pk = User._meta.pk
    params: dict[str, Any] = {
        "user": db_param(pk, user_id, connection),
        "now": connection.ops.adapt_datetimefield_value(now),
    }
    for name in changed:
        params[name] = db_param(User._meta.get_field(name), changes[name], connection)
    if with_application:
        params["application"] = db_param(pk, application_id, connection)
    if with_token:
        if token is None or eviction is None:
            raise TypeError("a token is inserted with the audit entry of what it may evict")
        params["keep"] = max(keep, 0)
        params["reason"] = revoke_reason
        for field in TOKEN_FIELDS:
            params[f"t_{field.attname}"] = db_param(field, getattr(token, field.attname), connection)
        for field in AUDIT_ENTRY_FIELDS:
            params[f"a_{field.attname}"] = db_param(field, field.pre_save(eviction, True), connection)
    rows = prepared_fetchall(connection, _sql(using, changed, with_application, with_token), params)
    if not rows or not rows[0][0]:
        return None
    registrations = []
    converters = _converters(using)
    attnames = [f.attname for f in REGISTRATION_FIELDS]
    for row in rows:
        values = list(row[3:])
        if values[0] is None:  # the LEFT JOIN's row when the user has no registration
            continue
        registration = Registration.from_db(using, attnames, converted(connection, values, converters))
        if registration.application_id == application_id:
            registration.last_login_at = now
        registrations.append(registration)
    if with_token and token is not None and rows[0][1]:
        token._state.adding, token._state.db = False, using
    inserted = bool(rows[0][1])
    return LoginRecorded(registrations=registrations, token_inserted=inserted, evicted=int(rows[0][2]))


@cache
def _lock_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    user, tenant = q(User._meta.db_table), q(Tenant._meta.db_table)
    limit = q(column(Tenant._meta.get_field("refresh_token_limit_per_user")))
    return (
        f"UPDATE {user} SET {q('last_login')} = {q('last_login')} WHERE {q('id')} = %s"
        f" RETURNING (SELECT {limit} FROM {tenant} WHERE {tenant}.{q('id')} = {user}.{q('tenant_id')})"
    )


def user_sessions_lock(*, user_id: uuid.UUID, using: str = "default") -> int | None:
    """Lock the user's row for the rest of the transaction before its sessions are counted, and
    return the tenant's per-user session limit (None: no such user). The UPDATE changes nothing
    but writes a new row version: a concurrent login_record, whose snapshot cannot see this
    transaction's new token, then finds `xmin` moved and leaves the count to the locked path."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(using), [User._meta.pk.get_db_prep_value(user_id, connection)])
        row = cursor.fetchone()
    return None if row is None else int(row[0])
