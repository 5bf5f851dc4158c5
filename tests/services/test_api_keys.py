from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from identity.exceptions import NotAuthenticated, ValidationFailed
from identity.hashing import secret_digest
from identity.models import APIKey
from identity.services.api_keys import api_key_authenticate, api_key_create, api_key_delete, api_key_update

pytestmark = pytest.mark.django_db


def test_only_the_digest_and_a_prefix_are_stored():
    key, raw = api_key_create(tenant=None, name="ci")
    assert len(raw) >= 43
    assert key.key_digest == secret_digest(raw)
    assert key.prefix == raw[:8]
    assert raw not in str(key) and raw not in repr(key)
    assert APIKey.objects.filter(key_digest=secret_digest(raw)).count() == 1


def test_supplied_keys_must_be_long_and_unique():
    with pytest.raises(ValidationFailed):
        api_key_create(tenant=None, key="short")
    api_key_create(tenant=None, key="k" * 40)
    with pytest.raises(ValidationFailed) as info:
        api_key_create(tenant=None, key="k" * 40)
    assert info.value.field_errors["apiKey.key"][0].code == "[duplicate]apiKey.key"


@pytest.mark.parametrize(
    "permissions",
    [
        ["/api/jwt/refresh"],
        {"jwt/refresh": ["GET"]},
        {"/api/jwt/refresh": []},
        {"/api/jwt/refresh": ["FETCH"]},
        {"/api/jwt/refresh": "GET"},
        {"/api/jwt refresh": ["GET"]},
        {"/api/jwt/refresh\x00": ["GET"]},
        {"/api/jwt/refresh\ud800": ["GET"]},
    ],
)
def test_malformed_permissions_are_refused(permissions):
    with pytest.raises(ValidationFailed):
        api_key_create(tenant=None, permissions=permissions)
    assert not APIKey.objects.exists()


def test_permissions_are_normalised():
    key, _ = api_key_create(tenant=None, permissions={"/api/jwt/refresh/": ["delete", "get", "GET"]})
    assert key.permissions == {"/api/jwt/refresh": ["DELETE", "GET"]}


def test_expiry_in_the_past_is_refused():
    with pytest.raises(ValidationFailed):
        api_key_create(tenant=None, expires_at=timezone.now() - timedelta(seconds=1))


def test_authenticate_failures_are_indistinguishable():
    key, raw = api_key_create(tenant=None, permissions={"/api/jwt/refresh": ["GET"]})
    assert api_key_authenticate(raw=raw, endpoint="/api/jwt/refresh", method="GET") == key
    for raw_value, path, method in [("nope", "/api/jwt/refresh", "GET"), (raw, "/api/jwt/refresh", "POST")]:
        with pytest.raises(NotAuthenticated) as info:
            api_key_authenticate(raw=raw_value, endpoint=path, method=method)
        assert str(info.value) == "Authentication failed."


def _snapshot():
    return sorted(APIKey.objects.values_list("id", "permissions", "expires_at", "tenant_id", "name"))


@pytest.mark.parametrize(
    ("actor", "change"),
    [
        ({"permissions": {"/api/api-key": ["PUT"], "/api/jwt/refresh": ["GET"]}}, {"permissions": {}}),
        ({"permissions": {"/api/api-key": ["PUT"], "/api/jwt/refresh": ["GET"]}}, {"name": "renamed"}),
        ({"expires_at": timedelta(days=1)}, {"name": "renamed"}),
        ({"expires_at": timedelta(days=1)}, {"expires_at": timedelta(hours=1)}),
    ],
)
def test_a_key_never_changes_or_deletes_a_broader_key(actor, change):
    now = timezone.now()
    target, _ = api_key_create(tenant=None, name="bootstrap", key_manager=True)
    if "expires_at" in actor:
        actor = {**actor, "expires_at": now + actor["expires_at"]}
    editor, _ = api_key_create(tenant=None, name="editor", key_manager=True, **actor)
    values = {"name": target.name, "description": "", "permissions": target.permissions, "expires_at": None}
    values.update({k: (now + v if k == "expires_at" else v) for k, v in change.items()})
    before = _snapshot()
    with pytest.raises(ValidationFailed):
        api_key_update(api_key=target, editor=editor, **values)
    with pytest.raises(ValidationFailed):
        api_key_delete(api_key=target, caller=editor)
    assert _snapshot() == before


def test_an_expiring_key_creates_and_keeps_only_keys_that_expire_before_it():
    now = timezone.now()
    manager, _ = api_key_create(tenant=None, key_manager=True, expires_at=now + timedelta(days=1))
    for expires_at in (None, now + timedelta(days=2)):
        with pytest.raises(ValidationFailed) as info:
            api_key_create(tenant=None, creator=manager, expires_at=expires_at)
        assert "apiKey.expirationInstant" in info.value.field_errors
        with pytest.raises(ValidationFailed):
            api_key_update(
                api_key=manager,
                editor=manager,
                name="",
                description="",
                permissions={},
                expires_at=expires_at,
            )
    child, _ = api_key_create(tenant=None, creator=manager, expires_at=now + timedelta(hours=1))
    assert child.expires_at == now + timedelta(hours=1)


@pytest.mark.parametrize(
    "value",
    [
        " " * 40,
        "a" * 20 + " " + "a" * 20,
        "Bearer " + "a" * 40,
        "a" * 40 + "\u00e9",
        "a" * 40 + "\x00",
        "a" * 39 + "'",
    ],
)
def test_supplied_keys_use_the_key_alphabet(value):
    with pytest.raises(ValidationFailed) as info:
        api_key_create(tenant=None, key=value)
    assert info.value.field_errors["apiKey.key"][0].code == "[invalid]apiKey.key"
    assert not APIKey.objects.exists()
