"""identity.selectors.rows: one row by a unique key, in SQL built once, gives what the ORM gives."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from identity import key_store
from identity.exceptions import NotAuthenticated
from identity.hashing import secret_digest
from identity.key_store import KEYS, channel_bump, key_snapshot
from identity.models import APIKey, Application, Tenant, User
from identity.selectors import application_get, rows, user_get_by_login_id
from identity.selectors.rows import Join, row_by_unique_key
from identity.services.api_keys import api_key_authenticate, api_key_create, api_key_delete, api_key_update
from identity.services.applications import application_set_active
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _columns(instance) -> dict:  # type: ignore[no-untyped-def]
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_the_application_and_its_tenant_are_the_orms_in_one_statement(world):
    with CaptureQueriesContext(connection) as queries:
        found = application_get(application_id=world.application.pk)
        assert found is not None
        tenant = found.tenant
    assert len(queries) == 1
    expected = Application.objects.select_related("tenant").get(pk=world.application.pk)
    assert _columns(found) == _columns(expected)
    assert _columns(tenant) == _columns(expected.tenant)
    assert not found._state.adding and found._state.db == "default"


@pytest.mark.parametrize("tenant_bound", [True, False], ids=["tenant-key", "global-key"])
def test_an_api_key_with_or_without_a_tenant(world, tenant_bound):
    _, raw = api_key_create(tenant=world.tenant if tenant_bound else None, name="reader")

    with CaptureQueriesContext(connection) as queries:
        found = api_key_authenticate(raw=raw, endpoint="/api/login", method="POST")
        tenant = found.tenant
    assert len(queries) == 1
    expected = APIKey.objects.get(key_digest=secret_digest(raw))
    assert _columns(found) == _columns(expected)
    assert (tenant.pk if tenant is not None else None) == (world.tenant.pk if tenant_bound else None)


@pytest.mark.parametrize("login_id", ["ANN@example.com", "ann", " ann@example.com"])
def test_the_user_by_either_login_id_with_the_given_tenant(world, login_id):
    found = user_get_by_login_id(tenant=world.tenant, login_id=login_id)
    assert found is not None and found.pk == world.user.pk
    assert _columns(found) == _columns(User.objects.get(pk=world.user.pk))
    with CaptureQueriesContext(connection) as queries:
        assert found.tenant is world.tenant  # the tenant given, not a second read
    assert len(queries) == 0


@pytest.mark.parametrize("login_id", ["nobody@example.com", "", "ann@example.com'--", "%"], ids=repr)
def test_unknown_and_hostile_login_ids_find_no_one(world, login_id):
    assert user_get_by_login_id(tenant=world.tenant, login_id=login_id) is None


def test_a_user_of_another_tenant_is_not_found(world):
    other = Tenant.objects.create(name="Other", issuer="other.example.com")
    UserFactory(tenant=other, email="bob@example.com", username="bob")
    assert user_get_by_login_id(tenant=world.tenant, login_id="bob@example.com") is None


def test_no_row_is_none():
    assert row_by_unique_key(Application, {"id": uuid.uuid4()}, joins=(Join(Tenant, "tenant"),)) is None


@pytest.mark.django_db(transaction=True)
class TestRemembered:
    """`remember`: rows found outside a transaction are answered from the key snapshot's memory
    until the key store's channel moves (identity.key_store.key_store_invalidate)."""

    def test_a_remembered_row_is_answered_without_a_query_as_new_instances(self, world):
        first = application_get(application_id=world.application.pk, remembered=True)
        with CaptureQueriesContext(connection) as queries:
            second = application_get(application_id=world.application.pk, remembered=True)
            assert second is not None and second.tenant.pk == world.tenant.pk
        assert len(queries) == 0
        assert first is not None and first is not second and first.tenant is not second.tenant
        assert _columns(first) == _columns(second) == _columns(Application.objects.get(pk=first.pk))
        first.name, first.tenant.name = "changed in memory", "changed too"
        third = application_get(application_id=world.application.pk, remembered=True)
        assert third is not None and third.name == "Portal" and third.tenant.name == world.tenant.name

    def test_a_list_in_a_remembered_row_is_each_answers_own(self, world, monkeypatch):
        """An array column (psycopg gives a list) is copied for every answer, the first included,
        so a caller changing it changes neither the memory nor another answer."""
        fetch = rows.prepared_fetchone
        position = rows._select("default", Application, (Join(Tenant, "tenant"),), ("id",)).parts[0][1]
        name_at = position.index("name")

        def with_a_list(*args, **kwargs):  # type: ignore[no-untyped-def]
            row = list(fetch(*args, **kwargs))
            row[name_at] = ["a", "b"]
            return row

        monkeypatch.setattr(rows, "prepared_fetchone", with_a_list)
        first = application_get(application_id=world.application.pk, remembered=True)
        assert first is not None and first.name == ["a", "b"]
        first.name.append("changed by the first caller")
        second = application_get(application_id=world.application.pk, remembered=True)
        assert second is not None and second.name == ["a", "b"]
        second.name.clear()
        third = application_get(application_id=world.application.pk, remembered=True)
        assert third is not None and third.name == ["a", "b"]

    def test_a_remembered_api_keys_permissions_are_its_own_in_every_answer(self, world):
        _, raw = api_key_create(tenant=world.tenant, name="narrow", permissions={"/api/login": ["POST"]})
        first = api_key_authenticate(raw=raw, endpoint="/api/login", method="POST")
        first.permissions["/api/user"] = ["DELETE"]
        with CaptureQueriesContext(connection) as queries:
            again = api_key_authenticate(raw=raw, endpoint="/api/login", method="POST")
            assert again.tenant is not None and again.tenant.pk == world.tenant.pk
        assert len(queries) == 0
        assert again.permissions == {"/api/login": ["POST"]}
        with pytest.raises(NotAuthenticated):
            api_key_authenticate(raw=raw, endpoint="/api/user", method="DELETE")

    def test_without_remember_every_read_asks_the_database(self, world):
        application_get(application_id=world.application.pk)
        with CaptureQueriesContext(connection) as queries:
            application_get(application_id=world.application.pk)
        assert len(queries) == 1

    def test_inside_a_transaction_nothing_is_remembered(self, world):
        key_snapshot()  # built now, so the reads below are the only queries
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            application_get(application_id=world.application.pk, remembered=True)
            application_get(application_id=world.application.pk, remembered=True)
        assert len(queries) == 2
        with CaptureQueriesContext(connection) as queries:
            application_get(application_id=world.application.pk, remembered=True)
        assert len(queries) == 1

    def test_a_row_not_found_is_not_remembered(self, world):
        missing = uuid.uuid4()
        before = len(key_snapshot().rows)
        with CaptureQueriesContext(connection) as queries:
            assert application_get(application_id=missing, remembered=True) is None
            assert application_get(application_id=missing, remembered=True) is None
        assert len(queries) == 2
        assert len(key_snapshot().rows) == before

    def test_the_memory_is_bounded(self, world, monkeypatch):
        monkeypatch.setattr(rows, "MEMORY_MAX_ROWS", 2)
        key_snapshot().rows.clear()
        for _ in range(5):
            _, raw = api_key_create(tenant=None, name="many")
            api_key_authenticate(raw=raw, endpoint="/api/login", method="POST")
            assert 1 <= len(key_snapshot().rows) <= 2

    def test_a_change_through_the_services_is_seen_at_once(self, world):
        assert application_get(application_id=world.application.pk, remembered=True).active  # type: ignore[union-attr]
        application_set_active(application=world.application, active=False)
        assert not application_get(application_id=world.application.pk, remembered=True).active  # type: ignore[union-attr]

    def test_an_api_key_deleted_or_narrowed_is_refused_at_once(self, world):
        key, raw = api_key_create(tenant=None, name="short-lived")
        assert api_key_authenticate(raw=raw, endpoint="/api/login", method="POST").pk == key.pk
        api_key_update(api_key=key, permissions={"/api/user": ["GET"]})
        with pytest.raises(NotAuthenticated):
            api_key_authenticate(raw=raw, endpoint="/api/login", method="POST")
        assert api_key_authenticate(raw=raw, endpoint="/api/user", method="GET").pk == key.pk
        api_key_delete(api_key=key)
        with pytest.raises(NotAuthenticated):
            api_key_authenticate(raw=raw, endpoint="/api/user", method="GET")

    def test_a_change_made_elsewhere_is_seen_once_the_channel_moves(self, world, monkeypatch):
        now = [1_000_000.0]
        monkeypatch.setattr(key_store.time, "monotonic", lambda: now[0])
        KEYS.reload(reason="test")
        application_get(application_id=world.application.pk, remembered=True)
        # Another process's change: the row and the channel's version moved, this one was not told.
        Application.objects.filter(pk=world.application.pk).update(name="Renamed")
        channel_bump(KEYS.name)
        assert application_get(application_id=world.application.pk, remembered=True).name == "Portal"  # type: ignore[union-attr]
        now[0] += key_store.CHECK_INTERVAL_SECONDS
        assert application_get(application_id=world.application.pk, remembered=True).name == "Renamed"  # type: ignore[union-attr]

    def test_a_key_store_that_cannot_be_built_only_stops_the_remembering(self, world, monkeypatch, caplog):
        _, raw = api_key_create(tenant=None, name="still works")

        def broken() -> None:
            raise ValueError("a key that no longer decrypts")

        monkeypatch.setattr(KEYS, "_build", broken)
        KEYS.reset()
        for _ in range(2):
            with CaptureQueriesContext(connection) as queries:
                assert api_key_authenticate(raw=raw, endpoint="/api/login", method="POST") is not None
            assert any("identity_apikey" in q["sql"] for q in queries.captured_queries)
        assert "key store unavailable" in caplog.text
        KEYS.reset()


def _built(instance) -> tuple:  # type: ignore[no-untyped-def]
    loaded = {k: v for k, v in instance.__dict__.items() if k != "_state"}
    return type(instance), loaded, instance._state.adding, instance._state.db, instance.get_deferred_fields()


def _row_parts(world):  # type: ignore[no-untyped-def]
    from identity.models import RefreshToken
    from identity.services import refresh_token_sql
    from identity.services.refresh_tokens import refresh_token_create

    token = refresh_token_create(user=world.user, application=world.application).token
    objects = {RefreshToken: token, User: world.user, Application: world.application, Tenant: world.tenant}
    everything = [(m, tuple(f.attname for f in m._meta.concrete_fields)) for m in objects]
    hot = [(part.model, part.attnames) for part in refresh_token_sql.PARTS]
    few = [(User, ("id", "tenant_id", "email")), (RefreshToken, ("id", "user_id"))]
    return objects, [*everything, *hot, *few]


@pytest.mark.parametrize("which", ["every-column", "the-refresh-read", "a-few-columns"])
def test_rows_are_built_as_model_from_db_builds_them(world, which):
    objects, parts = _row_parts(world)
    chosen = {"every-column": parts[:4], "the-refresh-read": parts[4:8], "a-few-columns": parts[8:]}[which]
    values = [
        v for model, names in chosen for v in model.objects.values_list(*names).get(pk=objects[model].pk)
    ]
    built = rows.row_instances("default", values, chosen)
    offset, expected = 0, []
    for model, names in chosen:
        expected.append(model.from_db("default", set(names), values[offset : offset + len(names)]))
        offset += len(names)
    assert [_built(b) for b in built] == [_built(e) for e in expected]
    for instance, (model, _names) in zip(built, chosen, strict=True):
        assert not instance._state.adding
        for field in model._meta.concrete_fields:  # a column not loaded is read when touched, as the ORM does
            assert getattr(instance, field.attname) == getattr(objects[model], field.attname)


def test_a_connected_post_init_receiver_sees_every_built_row(world):
    from django.db.models.signals import post_init

    seen: list[object] = []

    def receiver(sender, instance, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(instance)

    values = list(User.objects.values_list("id", "tenant_id", "email").get(pk=world.user.pk))
    post_init.connect(receiver, sender=User)
    try:
        [user] = rows.row_instances("default", values, [(User, ("id", "tenant_id", "email"))])
    finally:
        post_init.disconnect(receiver, sender=User)
    assert seen == [user] and user.email == world.user.email


def test_a_run_shorter_than_its_columns_is_an_error_not_a_half_built_row(world):
    with pytest.raises(ValueError):
        rows.row_instances(
            "default", [world.user.pk, world.tenant.pk], [(User, ("id", "tenant_id", "email"))]
        )
