"""The hand-built refresh SQL returns what the ORM would, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from identity.hashing import secret_digest
from identity.models import Application, RefreshToken, Tenant, User
from identity.selectors import jwt_configuration_for
from identity.services.refresh_token_sql import (
    APPLICATION_ATTNAMES,
    TENANT_ATTNAMES,
    TOKEN_ATTNAMES,
    USER_ATTNAMES,
    refresh_token_consume,
    refresh_token_context,
    refresh_token_write,
)
from identity.services.refresh_tokens import DeviceInfo, refresh_grant, refresh_token_create
from identity.services.registrations import registration_delete
from identity.services.tenants import tenant_update
from identity.services.users import user_update

pytestmark = pytest.mark.django_db


def test_loaded_values_equal_the_orms(world):
    user_update(user=world.user, expires_at=timezone.now() + timedelta(days=3))
    issued = refresh_token_create(
        user=world.user, application=world.application, device=DeviceInfo(address="10.0.0.9")
    )
    context = refresh_token_context(token_id=issued.token.pk)
    assert context is not None
    token = context.token
    expected = RefreshToken.objects.get(pk=issued.token.pk)
    for attname in TOKEN_ATTNAMES:
        assert getattr(token, attname) == getattr(expected, attname), attname
    for model, loaded, attnames in (
        (User, token.user, USER_ATTNAMES),
        (Application, token.application, APPLICATION_ATTNAMES),
        (Tenant, token.application.tenant, TENANT_ATTNAMES),
    ):
        stored = model.objects.get(pk=loaded.pk)
        for attname in attnames:
            assert getattr(loaded, attname) == getattr(stored, attname), (model.__name__, attname)
    assert (context.user, context.application, context.tenant) == (
        token.user,
        token.application,
        token.application.tenant,
    )
    assert context.roles == ["user"]
    assert context.config == jwt_configuration_for(
        application=Application.objects.get(pk=token.application_id)
    )


def test_unknown_token_and_unregistered_user(world):
    assert refresh_token_context(token_id=uuid.uuid4()) is None
    issued = refresh_token_create(user=world.user, application=world.application)
    registration_delete(registration=world.user.registrations.get())
    context = refresh_token_context(token_id=issued.token.pk)
    assert context.roles is None and not context.refreshable(timezone.now())


def test_write_is_conditional_and_updates_only_the_given_columns(world):
    issued = refresh_token_create(user=world.user, application=world.application)
    later = timezone.now() + timedelta(hours=1)
    current = issued.token.token_digest
    changes = {"generation": 3, "rotated_at": later, "token_digest": "f" * 64}
    assert refresh_token_write(token=issued.token, changes=changes, expected_digest=current)
    # The digest moved on: a second write expecting the old one (a lost race) changes nothing.
    assert not refresh_token_write(token=issued.token, changes={"generation": 9}, expected_digest=current)
    stored = RefreshToken.objects.get(pk=issued.token.pk)
    assert (stored.generation, stored.rotated_at, stored.token_digest) == (3, later, "f" * 64)
    assert stored.expires_at == issued.token.expires_at


def test_write_refuses_a_revoked_token(world):
    issued = refresh_token_create(user=world.user, application=world.application)
    RefreshToken.objects.filter(pk=issued.token.pk).update(revoked_at=timezone.now())
    assert not refresh_token_write(
        token=issued.token, changes={"generation": 1}, expected_digest=issued.token.token_digest
    )


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "unprepared"])
def test_prepared_statements_read_and_write_the_same(world, settings, prepared):
    """On PostgreSQL the two statements are prepared on the connection (IDENTITY_PREPARED_STATEMENTS),
    still seen by CaptureQueriesContext, and give the same results as unprepared ones; off, nothing
    is prepared."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are a PostgreSQL path")
    settings.IDENTITY_PREPARED_STATEMENTS = prepared
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection.connection._prepared.clear()  # psycopg's own record of what it prepared
    issued = refresh_token_create(user=world.user, application=world.application, device=DeviceInfo())
    digest = secret_digest(issued.value)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            context = refresh_token_context(token_id=issued.token.pk)
            assert context is not None and context.token.pk == issued.token.pk
        assert refresh_token_write(token=context.token, changes={"generation": 7}, expected_digest=digest)
        assert not refresh_token_write(
            token=context.token, changes={"generation": 8}, expected_digest="0" * 64
        )
    assert len(queries) == 5
    # The query log holds each statement's text, prepared or not (Django's DEBUG log, the budgets).
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["SELECT"] * 3 + ["UPDATE"] * 2
    assert RefreshToken.objects.get(pk=issued.token.pk).generation == 7
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == (2 if prepared else 0)


def test_the_digest_has_no_index():
    """Every read is by primary key (the value carries it), so the digest needs no index, and a
    rotation, which changes only the digest and unindexed columns, changes no indexed column."""
    from django.db import connection

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, RefreshToken._meta.db_table)
    assert not [name for name, c in constraints.items() if "token_digest" in c["columns"]]


def test_a_one_time_rotation_is_a_hot_update(world):
    """On PostgreSQL a OneTimeUse rotation with a Fixed expiry is written as a HOT update (no index
    entries, one WAL record for the row): the table leaves room on its pages (fillfactor 90)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("HOT updates and fillfactor are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [RefreshToken._meta.db_table]
        )
        assert cursor.fetchone()[0] == ["fillfactor=90"]
    tenant_update(tenant=world.tenant, refresh_token_usage_policy="OneTimeUse")
    world.application.refresh_from_db()
    value = refresh_token_create(user=world.user, application=world.application).value

    def hot_updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_stat_get_xact_tuples_updated(%s::regclass),"
                " pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
                [RefreshToken._meta.db_table] * 2,
            )
            return cursor.fetchone()

    updated, hot = hot_updates()
    for _ in range(3):
        value = refresh_grant(value=value).refresh_token_value
    assert hot_updates() == (updated + 3, hot + 3)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="refresh_token_consume is PostgreSQL's (.ci/run uses it)"
)
def test_consume_writes_and_reads_in_one_statement_with_the_values_before(world, django_assert_num_queries):
    issued = refresh_token_create(
        user=world.user, application=world.application, device=DeviceInfo(address="10.0.0.9")
    )
    before = RefreshToken.objects.get(pk=issued.token.pk)
    now = timezone.now() + timedelta(seconds=5)
    changes = {"generation": 1, "last_used_at": now, "rotated_at": now, "token_digest": "d" * 64}
    with django_assert_num_queries(1):
        context = refresh_token_consume(
            token_id=issued.token.pk, expected_digest=before.token_digest, changes=changes
        )
    assert context is not None
    read = refresh_token_context(token_id=issued.token.pk)
    assert read is not None
    for attname in TOKEN_ATTNAMES:  # the row as it was before the write
        assert getattr(context.token, attname) == getattr(before, attname), attname
    assert (context.user, context.application, context.tenant) == (read.user, read.application, read.tenant)
    assert context.roles == read.roles == ["user"] and context.config == read.config
    after = RefreshToken.objects.get(pk=issued.token.pk)
    written = (after.generation, after.token_digest, after.rotated_at, after.last_used_at)
    assert written == (1, "d" * 64, now, now)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="refresh_token_consume is PostgreSQL's (.ci/run uses it)"
)
@pytest.mark.parametrize("case", ["other-digest", "revoked", "unknown-id"])
def test_consume_writes_nothing_unless_the_value_is_current(world, case):
    issued = refresh_token_create(user=world.user, application=world.application)
    if case == "revoked":
        RefreshToken.objects.filter(pk=issued.token.pk).update(revoked_at=timezone.now())
    rows = list(RefreshToken.objects.values().order_by("pk"))
    token_id = uuid.uuid4() if case == "unknown-id" else issued.token.pk
    digest = secret_digest("not it") if case == "other-digest" else issued.token.token_digest
    assert refresh_token_consume(token_id=token_id, expected_digest=digest, changes={"generation": 9}) is None
    assert list(RefreshToken.objects.values().order_by("pk")) == rows
