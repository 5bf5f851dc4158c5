"""identity.selectors.rows' prepared statements: one kept cursor per connection, Django's errors and
Django's watchers either way, and Django's own cursor where nothing is prepared."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from identity.models import Tenant
from identity.selectors import rows
from identity.selectors.rows import prepared_fetchall, prepared_fetchone, prepared_rowcount

POSTGRES = connection.vendor == "postgresql"
pytestmark = pytest.mark.django_db
TENANTS = f"SELECT name FROM {Tenant._meta.db_table} WHERE name = %s"  # noqa: S608 (a model's own table)


def _kept() -> Any:
    return connection.__dict__.get(rows._KEPT, (None, None))[1]


def _prepared_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        return int(cursor.fetchone()[0])


@pytest.fixture
def fresh_connection():
    """The connection with no kept cursor and nothing prepared yet."""
    connection.__dict__.pop(rows._KEPT, None)
    if POSTGRES:
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
        connection.connection._prepared.clear()  # psycopg's own record of what it prepared


def test_the_three_readers_answer_as_djangos_cursor_does(fresh_connection):
    Tenant.objects.create(name="alpha", issuer="https://alpha.example")
    assert prepared_fetchone(connection, TENANTS, ["alpha"]) in (("alpha",), ["alpha"])
    assert prepared_fetchone(connection, TENANTS, ["nobody"]) is None
    assert [tuple(r) for r in prepared_fetchall(connection, TENANTS, ["alpha"])] == [("alpha",)]
    assert prepared_fetchall(connection, TENANTS, ["nobody"]) == []
    update = f"UPDATE {Tenant._meta.db_table} SET issuer = %s WHERE name = %s"  # noqa: S608
    assert prepared_rowcount(connection, update, ["https://a.example", "alpha"]) == 1
    assert prepared_rowcount(connection, update, ["https://a.example", "nobody"]) == 0
    assert Tenant.objects.get(name="alpha").issuer == "https://a.example"


@pytest.mark.skipif(not POSTGRES, reason="prepared statements are a PostgreSQL path")
def test_one_cursor_is_kept_per_connection_and_each_statement_prepared_once(fresh_connection):
    prepared_fetchone(connection, TENANTS, ["a"])
    kept = _kept()
    assert kept is not None
    for name in ("b", "c"):
        prepared_fetchone(connection, TENANTS, [name])
    assert _kept() is kept and not kept.closed
    assert _prepared_count() == 1


@pytest.mark.skipif(not POSTGRES, reason="prepared statements are a PostgreSQL path")
@pytest.mark.django_db(transaction=True)  # a connection closed outside any transaction
def test_a_new_connection_gets_a_new_cursor(fresh_connection):
    prepared_fetchone(connection, TENANTS, ["a"])
    before = _kept()
    connection.close()
    assert prepared_fetchone(connection, TENANTS, ["a"]) is None  # reconnected, not the closed cursor
    assert _kept() is not before


@pytest.mark.skipif(not POSTGRES, reason="prepared statements are a PostgreSQL path")
def test_with_preparing_off_djangos_cursor_runs_it_and_nothing_is_prepared(fresh_connection, settings):
    settings.IDENTITY_PREPARED_STATEMENTS = False
    assert prepared_fetchone(connection, TENANTS, ["a"]) is None
    assert _kept() is None
    assert _prepared_count() == 0


def test_query_logging_and_execute_wrappers_see_each_statement(fresh_connection):
    seen: list[str] = []

    def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as queries:
        prepared_fetchone(connection, TENANTS, ["a"])
    with connection.execute_wrapper(watch):
        assert prepared_fetchall(connection, TENANTS, ["a"]) == []
    assert len(queries.captured_queries) == 1 and "WHERE" in queries.captured_queries[0]["sql"]
    assert seen == [TENANTS]


@pytest.mark.parametrize("watched", [False, True], ids=["unwatched", "logged"])
def test_errors_are_djangos(fresh_connection, watched):
    Tenant.objects.create(name="taken", issuer="https://taken.example")
    duplicate = f"UPDATE {Tenant._meta.db_table} SET name = %s WHERE name = %s"  # noqa: S608
    Tenant.objects.create(name="other", issuer="https://other.example")
    with CaptureQueriesContext(connection) if watched else contextlib.nullcontext():
        with pytest.raises(IntegrityError), transaction.atomic():
            prepared_rowcount(connection, duplicate, ["taken", "other"])
        with pytest.raises(DatabaseError), transaction.atomic():
            prepared_fetchone(connection, "SELECT no_such_column FROM identity_tenant", [])
    assert prepared_fetchone(connection, TENANTS, ["other"]) is not None  # the connection still serves
    assert set(Tenant.objects.filter(name__in=["taken", "other"]).values_list("name", flat=True)) == {
        "taken",
        "other",
    }


def test_a_broken_transaction_is_refused_before_anything_runs(fresh_connection):
    """As Django's cursor refuses it: a statement after an error inside atomic() without a savepoint."""
    with transaction.atomic():
        with pytest.raises(DatabaseError), transaction.atomic(savepoint=False):
            prepared_fetchone(connection, "SELECT no_such_column FROM identity_tenant", [])
        with pytest.raises(TransactionManagementError):
            prepared_fetchone(connection, TENANTS, ["a"])
