"""A key manager manages only keys within its own reach (permissions, tenant lock, expiry), judged
on a target's current and new values; supplied key values use the key alphabet. Driven against a
real gunicorn server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from identity.models import APIKey
from tests.conftest import World
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db(transaction=True)

ALL = ["GET", "POST", "PUT", "DELETE"]


def _keys() -> list[tuple[Any, ...]]:
    return sorted(
        APIKey.objects.values_list(
            "id", "name", "permissions", "expires_at", "tenant_id", "key_manager", "key_digest"
        )
    )


def _millis(delta: timedelta) -> int:
    return int((timezone.now() + delta).timestamp() * 1000)


def test_a_limited_or_expiring_manager_cannot_reach_broader_keys(gunicorn, world: World) -> None:
    bootstrap, _ = make_api_key(name="bootstrap", key_manager=True)
    _, limited = make_api_key(
        name="limited", key_manager=True, permissions={"/api/api-key": ALL, "/api/jwt/refresh": ["GET"]}
    )
    expiring_key, expiring = make_api_key(
        name="expiring", key_manager=True, expires_at=timezone.now() + timedelta(days=1)
    )
    _, locked = make_api_key(name="locked", key_manager=True, tenant=world.tenant)
    server = gunicorn(workers=2)
    own = f"/api/api-key/{expiring_key.pk}"
    attacks: list[tuple[str, str, str, Any]] = [
        # the limited key downgrades, expires or deletes the bootstrap key
        (
            limited,
            "PUT",
            f"/api/api-key/{bootstrap.pk}",
            {"permissions": {"endpoints": {"/api/jwt/refresh": ["GET"]}}},
        ),
        (
            limited,
            "PUT",
            f"/api/api-key/{bootstrap.pk}",
            {"expirationInstant": _millis(timedelta(minutes=5))},
        ),
        (limited, "DELETE", f"/api/api-key/{bootstrap.pk}", None),
        # ... or changes the expiring super key (broader permissions), even towards its own reach
        (limited, "PUT", own, {"permissions": {"endpoints": {"/api/jwt/refresh": ["GET"]}}}),
        (limited, "DELETE", own, None),
        # the expiring key mints a non-expiring or longer-lived twin
        (expiring, "POST", "/api/api-key", {"name": "twin"}),
        (
            expiring,
            "POST",
            "/api/api-key",
            {"name": "twin", "expirationInstant": _millis(timedelta(days=30))},
        ),
        # ... clears or extends its own expiry
        (expiring, "PUT", own, {"expirationInstant": None}),
        (expiring, "PUT", own, {"expirationInstant": _millis(timedelta(days=30))}),
        # ... or touches a key that never expires
        (expiring, "PUT", f"/api/api-key/{bootstrap.pk}", {"name": "renamed"}),
        (expiring, "DELETE", f"/api/api-key/{bootstrap.pk}", None),
        # a tenant-locked key changes no global key (it cannot even see it: 404)
        (locked, "PUT", f"/api/api-key/{bootstrap.pk}", {"name": "renamed"}),
    ]
    for caller, method, path, api_key in attacks:
        before = _keys()
        body = None if api_key is None else {"apiKey": api_key}
        answer = server.request(method, path, json_body=body, headers={"Authorization": caller})
        assert answer.status in (400, 404), (
            method,
            path,
            api_key,
            answer.status,
            answer.body,
            server.log_tail(),
        )
        assert answer.status == 404 or answer.json()["fieldErrors"], answer.body
        assert _keys() == before, (method, path, api_key)

    # Within reach it works: a narrower key, an earlier expiry, its own tenant.
    ok = [
        (
            limited,
            "POST",
            "/api/api-key",
            {"name": "narrow", "permissions": {"endpoints": {"/api/jwt/refresh": ["GET"]}}},
        ),
        (
            expiring,
            "POST",
            "/api/api-key",
            {"name": "short", "expirationInstant": _millis(timedelta(hours=1))},
        ),
        (expiring, "PUT", own, {"expirationInstant": _millis(timedelta(hours=2))}),
        (locked, "POST", "/api/api-key", {"name": "tenant key"}),
    ]
    for caller, method, path, api_key in ok:
        answer = server.request(
            method, path, json_body={"apiKey": api_key}, headers={"Authorization": caller}
        )
        assert answer.status == 200, (method, path, api_key, answer.body, server.log_tail())
    created = APIKey.objects.get(name="narrow")
    assert created.permissions == {"/api/jwt/refresh": ["GET"]}
    assert APIKey.objects.get(name="tenant key").tenant_id == world.tenant.pk


BAD_VALUES = [
    " " * 40,
    "abcdefghij klmnopqrst uvwxyz0123456789ABCD",
    "Bearer abcdefghijklmnopqrstuvwxyz0123456789",
    "abcdefghijklmnopqrstuvwxyz0123456789\tABCDEF",
    "abcdefghijklmnopqrstuvwxyz0123456789ABCDE\u00e9",
    'abcdefghijklmnopqrstuvwxyz0123456789"ABCDEF',
]


def test_supplied_key_values_use_the_key_alphabet(gunicorn) -> None:
    _, manager = make_api_key(name="manager", key_manager=True)
    server = gunicorn(workers=1)
    for value in BAD_VALUES:
        before = _keys()
        answer = server.request(
            "POST", "/api/api-key", json_body={"apiKey": {"key": value}}, headers={"Authorization": manager}
        )
        assert answer.status == 400, (value, answer.status, answer.body, server.log_tail())
        assert "apiKey.key" in answer.json()["fieldErrors"]
        assert _keys() == before
    good = "abcdefghijklmnopqrstuvwxyz0123456789-_.~+/="
    answer = server.request(
        "POST", "/api/api-key", json_body={"apiKey": {"key": good}}, headers={"Authorization": manager}
    )
    assert answer.status == 200, answer.body
    # The supplied value authenticates (404: no such user, rather than 401).
    assert (
        server.request("GET", "/api/user?email=nobody@example.com", headers={"Authorization": good}).status
        == 404
    )
