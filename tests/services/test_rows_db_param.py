"""identity.selectors.rows.db_param: the parameter Django's `get_db_prep_save` gives, for every field
class and value type it answers directly and for the ones it hands to Django."""

from __future__ import annotations

import uuid
import warnings
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, models
from django.db.models import Value
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy

from identity.models import APIKey, Application, AuditEntry, RefreshToken, Registration, Tenant, User
from identity.selectors.rows import db_param
from identity.services.refresh_tokens import refresh_token_create
from tests.factories import RegistrationFactory, make_api_key

POSTGRES = connection.vendor == "postgresql"


class _Datetime(datetime):
    """A datetime subclass: not the exact type db_param passes through."""


AWARE = datetime(2026, 12, 1, 22, 30, 5, 123456, tzinfo=UTC)
ID = uuid.UUID("5b0c1f3e-7d2a-4c69-9e4b-0a1d2c3b4e5f")
TENANT_FK = RefreshToken._meta.get_field("tenant")

CASES: list[tuple[str, Any, Any]] = [
    ("datetime aware UTC", models.DateTimeField(), AWARE),
    ("datetime aware elsewhere", models.DateTimeField(), AWARE.astimezone(ZoneInfo("Asia/Kolkata"))),
    ("datetime naive", models.DateTimeField(), datetime(2026, 12, 1, 22, 30)),
    ("datetime subclass", models.DateTimeField(), _Datetime(2026, 12, 1, tzinfo=UTC)),
    ("datetime text", models.DateTimeField(), "2026-12-01T22:30:05+00:00"),
    ("datetime none", models.DateTimeField(null=True), None),
    ("char", models.CharField(max_length=10), "abc"),
    ("char empty", models.CharField(max_length=10), ""),
    ("char none", models.CharField(max_length=10, null=True), None),
    ("char safe string", models.CharField(max_length=10), SafeString("abc")),
    ("char lazy", models.CharField(max_length=10), gettext_lazy("Active")),
    ("char from int", models.CharField(max_length=10), 5),
    ("email", models.EmailField(), "a@example.com"),
    ("text", models.TextField(), "text\u2028with a separator"),
    ("uuid", models.UUIDField(), ID),
    ("uuid text", models.UUIDField(), str(ID)),
    ("uuid hex", models.UUIDField(), ID.hex),
    ("uuid none", models.UUIDField(null=True), None),
    ("bool true", models.BooleanField(), True),
    ("bool false", models.BooleanField(), False),
    ("bool from int", models.BooleanField(), 1),
    ("bool none", models.BooleanField(null=True), None),
    ("int", models.IntegerField(), 5),
    ("int zero", models.IntegerField(), 0),
    ("int negative big", models.BigIntegerField(), -(2**40)),
    ("int small", models.SmallIntegerField(), 7),
    ("int positive", models.PositiveIntegerField(), 9),
    ("int positive small", models.PositiveSmallIntegerField(), 3),
    ("int positive big", models.PositiveBigIntegerField(), 2**40),
    ("int from bool", models.IntegerField(), True),
    ("int from text", models.IntegerField(), "7"),
    ("int none", models.IntegerField(null=True), None),
    ("foreign key uuid", TENANT_FK, ID),
    ("foreign key text", TENANT_FK, str(ID)),
    ("foreign key empty", TENANT_FK, ""),
    ("foreign key none", TENANT_FK, None),
    ("json", models.JSONField(), {"device": {"name": "phone"}}),
    ("ip", models.GenericIPAddressField(), "192.0.2.1"),
    ("expression", models.IntegerField(), Value(1)),
]


def _same(ours: Any, django: Any) -> bool:
    if type(ours) is not type(django):
        return False
    if hasattr(django, "obj"):  # psycopg's Jsonb and its kin wrap the value
        return bool(ours.obj == django.obj)
    return ours is django or bool(ours == django)


def _both(field: Any, value: Any) -> tuple[Any, Any, list[str], list[str]]:
    with warnings.catch_warnings(record=True) as django_warnings:
        warnings.simplefilter("always")
        django = field.get_db_prep_save(value, connection)
    with warnings.catch_warnings(record=True) as our_warnings:
        warnings.simplefilter("always")
        ours = db_param(field, value, connection)
    return ours, django, [str(w.message) for w in our_warnings], [str(w.message) for w in django_warnings]


@pytest.mark.parametrize(("field", "value"), [(f, v) for _, f, v in CASES], ids=[n for n, _, _ in CASES])
def test_the_parameter_is_djangos(field, value):
    ours, django, our_warnings, django_warnings = _both(field, value)
    assert _same(ours, django), (ours, django)
    assert our_warnings == django_warnings  # a naive datetime still warns, once


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (models.IntegerField(), "seven"),
        (models.UUIDField(), "not a uuid"),
        (models.DateTimeField(), "yesterday"),
    ],
    ids=["int", "uuid", "datetime"],
)
def test_a_value_django_refuses_is_refused_alike(field, value):
    with pytest.raises(Exception) as django:
        field.get_db_prep_save(value, connection)
    with pytest.raises(Exception) as ours:
        db_param(field, value, connection)
    assert type(ours.value) is type(django.value)
    assert str(ours.value) == str(django.value)


@pytest.mark.django_db
def test_every_column_of_real_rows_is_djangos():
    registration = RegistrationFactory()
    user, application = registration.user, registration.application
    token = refresh_token_create(user=user, application=application).token
    api_key, _ = make_api_key(tenant=user.tenant)
    entry = AuditEntry.objects.order_by("-pk").first()
    rows: list[models.Model] = [user, application, user.tenant, registration, token, api_key]
    rows += [entry] if entry is not None else []
    assert {type(r) for r in rows} >= {User, Application, Tenant, Registration, RefreshToken, APIKey}
    compared = 0
    for row in rows:
        for field in row._meta.concrete_fields:
            ours, django, our_warnings, django_warnings = _both(field, getattr(row, field.attname))
            assert _same(ours, django), (type(row).__name__, field.name, ours, django)
            assert our_warnings == django_warnings == []
            compared += 1
    assert compared > 50


def test_other_databases_get_djangos_own_call():
    calls = []

    class Spied(models.DateTimeField):
        def get_db_prep_save(self, value, connection):
            calls.append(value)
            return super().get_db_prep_save(value, connection)

    field = Spied()
    sqlite = SimpleNamespace(vendor="sqlite", ops=connection.ops, features=connection.features)
    db_param(models.DateTimeField(), AWARE, sqlite)  # answered by Django: no error without a real connection
    db_param(field, AWARE, sqlite)
    assert calls == [AWARE]


@pytest.mark.skipif(not POSTGRES, reason="only PostgreSQL's parameters are answered directly")
def test_on_postgresql_the_common_values_skip_djangos_calls(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("get_db_prep_save called")

    for kind in (models.DateTimeField, models.CharField, models.UUIDField, models.IntegerField):
        monkeypatch.setattr(kind, "get_db_prep_save", refuse)
    monkeypatch.setattr(models.BooleanField, "get_db_prep_save", refuse)
    assert db_param(models.DateTimeField(), AWARE, connection) is AWARE
    assert db_param(models.CharField(), "abc", connection) == "abc"
    assert db_param(models.UUIDField(), ID, connection) is ID
    assert db_param(TENANT_FK, ID, connection) is ID
    assert db_param(models.BooleanField(), True, connection) is True
    assert type(db_param(models.IntegerField(), 5, connection)).__name__ == "Int4"
    with pytest.raises(AssertionError, match="get_db_prep_save called"):
        db_param(models.DateTimeField(), datetime(2026, 12, 1), connection)  # naive: Django decides
