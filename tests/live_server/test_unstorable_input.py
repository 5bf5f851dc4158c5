"""Values no part of the stack can store or sign (NUL, lone surrogates, numbers beyond a double)
and a reconcile subject differing only in case from a link are 400 field errors, never 500s, and
change nothing. Driven against a real gunicorn server."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from identity.models import APIKey, IdentityProviderLink
from identity.services.identity_providers import external_jwt_provider_create
from identity.services.signing_keys import signing_key_import
from tests.api.helpers import db_state
from tests.conftest import World
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db(transaction=True)


def _state() -> dict[str, Any]:
    return {
        **db_state(),
        "keys": sorted(APIKey.objects.values_list("id", "permissions")),
        "links": sorted(IdentityProviderLink.objects.values_list("id", "subject", "user_id")),
    }


def test_unstorable_values_are_field_errors(gunicorn, world: World) -> None:
    _, manager = make_api_key(name="manager", key_manager=True)
    server = gunicorn(workers=2)
    headers = {"Authorization": manager, "X-FusionAuth-TenantId": str(world.tenant.pk)}
    user_path = f"/api/user/registration/{world.user.pk}"
    cases: list[tuple[str, str, str, str]] = [
        (
            "POST",
            "/api/user",
            json.dumps({"user": {"email": "n@example.com", "data": {"a": "x\u0000"}}}),
            "user.data.a",
        ),
        (
            "POST",
            "/api/user",
            json.dumps({"user": {"email": "n@example.com", "firstName": "\ud800"}}),
            "user.firstName",
        ),
        (
            "POST",
            "/api/user",
            json.dumps({"user": {"email": "n@example.com", "data": {"\ud800": 1}}}),
            "user.data.\\ud800",
        ),
        ("POST", "/api/user", '{"user": {"email": "n@example.com", "data": {"n": 1e400}}}', "user.data.n"),
        (
            "POST",
            user_path,
            json.dumps(
                {"registration": {"applicationId": str(world.application.pk), "data": {"a": "\u0000"}}}
            ),
            "registration.data.a",
        ),
        (
            "POST",
            "/api/api-key",
            json.dumps({"apiKey": {"permissions": {"endpoints": {"/api/user\u0000": ["GET"]}}}}),
            "apiKey.permissions.endpoints./api/user\\u0000",
        ),
        ("POST", "/api/jwt/vend", json.dumps({"claims": {"sub": "\ud800"}}), "claims.sub"),
        (
            "POST",
            "/api/jwt/vend",
            '{"claims": {"sub": "x"}, "timeToLiveInSeconds": 1e400}',
            "timeToLiveInSeconds",
        ),
        ("POST", "/api/jwt/vend", '{"claims": {"big": 1e400}}', "claims.big"),
    ]
    for method, path, body, field in cases:
        before = _state()
        answer = server.request(
            method, path, body=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert answer.status == 400, (path, body, answer.status, answer.body, server.log_tail())
        assert field in answer.json()["fieldErrors"], answer.body
        assert _state() == before, body
    for name in ("email", "username", "loginId"):
        answer = server.request("GET", f"/api/user?{name}=a%00b", headers=headers)
        assert answer.status == 400, (name, answer.status, answer.body)
        assert name in answer.json()["fieldErrors"]


def test_reconcile_subject_differing_in_case_from_a_link_is_a_field_error(gunicorn, world: World) -> None:
    external = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        external.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = signing_key_import(tenant=world.tenant, name="partner", public_key=public, kid="partner-1")
    provider = external_jwt_provider_create(
        tenant=world.tenant, name="Partner", keys=[key], applications=[world.application]
    )
    server = gunicorn(workers=2)

    def reconcile(email: str) -> Any:
        now = int(time.time())
        token = jwt.encode(
            {"email": email, "iat": now, "exp": now + 300},
            external,
            algorithm="RS256",
            headers={"kid": "partner-1"},
        )
        body = {
            "applicationId": str(world.application.pk),
            "identityProviderId": str(provider.pk),
            "data": {"token": token},
        }
        return server.request("POST", "/api/jwt/reconcile", json_body=body)

    first = reconcile("ann@example.com")
    assert first.status == 200, (first.body, server.log_tail())
    before = _state()
    again = reconcile("ANN@example.com")
    assert again.status == 400, (again.status, again.body, server.log_tail())
    assert again.json()["fieldErrors"]["token"][0]["code"] == "[duplicate]token"
    assert _state() == before
