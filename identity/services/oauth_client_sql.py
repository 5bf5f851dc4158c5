"""The token endpoint's one query in hand-built SQL: an OAuth client with its application and tenant.

Compiling this three-model select_related through the ORM costs more CPU than the whole rest of a
client-credentials grant (measured: ~2/3 of the request under cProfile), so, like the refresh hot
path (identity/services/refresh_token_sql.py), the statement is built once per database connection
from the models' metadata and its values go through Django's converters: the result is the model
instances the ORM would give. Only the columns a grant reads are loaded; any other loads lazily.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connections, models

from identity.models import Application, JWTConfigurationFields, OAuthConfiguration, Tenant
from identity.selectors.rows import (
    Converters,
    column_converters,
    converted,
    db_param,
    prepared_fetchone,
    row_instances,
)

JWT_ATTNAMES = tuple(f.attname for f in JWTConfigurationFields._meta.local_fields)
CLIENT_ATTNAMES = (
    "application_id", "client_secret_digest", "previous_secret_digest", "previous_secret_valid_until",
    "enabled_grants", "client_authentication_policy", "client_authentication_methods", "scopes", "jwks",
    "token_requests_per_minute",
)  # fmt: skip
APPLICATION_ATTNAMES = ("id", "tenant_id", "name", "active", "jwt_enabled", *JWT_ATTNAMES)
TENANT_ATTNAMES = ("id", "name", "issuer", *JWT_ATTNAMES)

Part = tuple[type[models.Model], str, tuple[str, ...], tuple["models.Field[Any, Any]", ...]]


def _part(model: type[models.Model], alias: str, attnames: Sequence[str]) -> Part:
    # Model.from_db takes loaded values in the model's field order, so select them in that order.
    fields = tuple(f for f in model._meta.concrete_fields if f.attname in attnames)
    if len(fields) != len(attnames):
        raise TypeError(f"Unknown columns for {model.__name__}: {attnames}")
    return model, alias, tuple(f.attname for f in fields), fields


PARTS = (
    _part(OAuthConfiguration, "c", CLIENT_ATTNAMES),
    _part(Application, "a", APPLICATION_ATTNAMES),
    _part(Tenant, "t", TENANT_ATTNAMES),
)


@cache
def _select(alias: str) -> tuple[str, Converters]:
    connection = connections[alias]
    q = connection.ops.quote_name
    columns = [f"{q(a)}.{q(str(f.column))}" for _, a, _, fields in PARTS for f in fields]
    c, a, t = (q(OAuthConfiguration._meta.db_table), q(Application._meta.db_table), q(Tenant._meta.db_table))
    # Every name comes from model metadata, quoted by the backend; the only value is a parameter.
    sql = (
        f"SELECT {', '.join(columns)} FROM {c} {q('c')}"  # noqa: S608
        f" INNER JOIN {a} {q('a')} ON {q('a')}.{q('id')} = {q('c')}.{q('application_id')}"
        f" INNER JOIN {t} {q('t')} ON {q('t')}.{q('id')} = {q('a')}.{q('tenant_id')}"
        f" WHERE {q('c')}.{q('application_id')} = %s"
    )
    return sql, column_converters(alias, (f for _, _, _, fields in PARTS for f in fields))


def oauth_client_load(*, client_id: uuid.UUID, using: str = "default") -> OAuthConfiguration | None:
    """The client's configuration with its application and tenant attached, or None."""
    sql, converters = _select(using)
    connection = connections[using]
    row = prepared_fetchone(connection, sql, [db_param(OAuthConfiguration._meta.pk, client_id, connection)])
    if row is None:
        return None
    values = converted(connection, row, converters)
    instances = row_instances(using, values, ((model, attnames) for model, _, attnames, _ in PARTS))
    configuration, application, tenant = instances
    Application.tenant.field.set_cached_value(application, tenant)
    OAuthConfiguration.application.field.set_cached_value(configuration, application)
    return configuration  # type: ignore[return-value]
