from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from identity.exceptions import NotAuthenticated, ValidationFailed
from identity.hashing import secret_digest
from identity.models import APIKey
from identity.services.api_keys import api_key_authenticate, api_key_create

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
