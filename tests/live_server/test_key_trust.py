"""Issue 18 (items 1 and 8, JWKS) against gunicorn: the forged-token and cross-tenant-key attacks
an outside tester ran, replayed as a tenant-locked caller and as a partner holding its own key."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from identity.models import SigningKey, Tenant
from identity.services.applications import application_create
from identity.services.identity_providers import external_jwt_provider_create
from identity.services.signing_keys import signing_key_generate, signing_key_import, tenant_signing_key_set
from tests.conftest import World
from tests.factories import TenantFactory, UserFactory, make_api_key
from tests.live import LiveServer, world_login


def _call(server: LiveServer, method: str, path: str, key: str, body: Any = None, tenant: Any = None) -> Any:
    headers = {"Authorization": key}
    if tenant is not None:
        headers["X-FusionAuth-TenantId"] = str(tenant)
    return server.request(method, path, json_body=body, headers=headers)


def _validate(server: LiveServer, token: str, tenant: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if tenant is not None:
        headers["X-FusionAuth-TenantId"] = str(tenant)
    return server.request("GET", "/api/jwt/validate", headers=headers)


def _other_tenant() -> tuple[Tenant, Any, Any]:
    tenant = TenantFactory()
    application = application_create(tenant=tenant, name="B app")
    return tenant, application, UserFactory(tenant=tenant, email="bob@example.com")


@pytest.mark.django_db(transaction=True)
def test_vended_tokens_name_the_tenant_that_signed_them(gunicorn, world: World) -> None:
    b, b_app, b_user = _other_tenant()
    _, locked = make_api_key(tenant=world.tenant)
    server = gunicorn(workers=2)
    forged = {"sub": str(b_user.pk), "tid": str(b.pk), "iss": b.issuer, "roles": ["admin"]}

    with_foreign_aud = _call(
        server, "POST", "/api/jwt/vend", locked, {"claims": {**forged, "aud": str(b_app.pk)}}
    )
    assert with_foreign_aud.status == 400
    assert "claims.aud" in with_foreign_aud.json()["fieldErrors"]

    vended = _call(server, "POST", "/api/jwt/vend", locked, {"claims": forged})
    assert vended.status == 200, vended.body
    token = vended.json()["token"]
    answer = _validate(server, token)
    assert answer.status == 200, server.log_tail()
    body = answer.json()
    assert body["tokenKind"] == "vend"
    assert (body["jwt"]["tid"], body["jwt"]["iss"]) == (str(world.tenant.pk), world.tenant.issuer)
    assert body["jwt"]["roles"] == ["admin"]  # free-form claims stay; they speak for tenant A only
    assert _validate(server, token, tenant=b.pk).status == 401
    assert _validate(server, token, tenant=world.tenant.pk).status == 200

    login = world_login(server, world)
    assert _validate(server, login.json()["token"]).json()["tokenKind"] == "access"


def _partner_token(private_key: Any, kid: str, claims: dict[str, Any], kind: str | None) -> str:
    headers = {"kid": kid, **({"tkn": kind} if kind else {})}
    return jwt.encode(claims, private_key, algorithm="ES256", headers=headers)


@pytest.mark.django_db(transaction=True)
def test_a_partners_verify_only_key_verifies_nothing_at_validate_and_is_not_published(
    gunicorn, world: World
) -> None:
    partner = ec.generate_private_key(ec.SECP256R1())
    public_pem = partner.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = signing_key_import(tenant=None, name="partner", public_key=public_pem.decode())
    provider = external_jwt_provider_create(
        tenant=world.tenant, name="Partner", keys=[key], applications=[world.application]
    )
    server = gunicorn(workers=2)
    now = int(time.time())
    common = {"iat": now, "exp": now + 600, "tid": str(world.tenant.pk), "iss": world.tenant.issuer}
    for kind, claims in (
        ("vend", {**common, "roles": ["admin"]}),
        ("access", {**common, "sub": str(world.user.pk), "aud": str(world.application.pk)}),
    ):
        token = _partner_token(partner, key.kid, claims, kind)
        assert _validate(server, token).status == 401, kind
        assert _validate(server, token, tenant=world.tenant.pk).status == 401, kind

    # The key still serves its purpose: the partner's users log in through reconcile.
    reconciled = server.request(
        "POST",
        "/api/jwt/reconcile",
        json_body={
            "applicationId": str(world.application.pk),
            "identityProviderId": str(provider.pk),
            "encodedJWT": _partner_token(
                partner, key.kid, {"email": "p@example.com", "exp": now + 600}, None
            ),
        },
    )
    assert reconciled.status == 200, reconciled.body

    for path in (
        "/.well-known/jwks.json",
        f"/{world.tenant.pk}/.well-known/jwks.json",
        "/api/jwt/public-key",
    ):
        published = server.request("GET", path)
        assert published.status == 200 and key.kid.encode() not in published.body, path
    assert server.request("GET", f"/api/jwt/public-key?kid={key.kid}").status == 404
    signer = SigningKey.objects.get(pk=world.tenant.access_token_signing_key_id)
    assert signer.kid.encode() in server.request("GET", "/.well-known/jwks.json").body


@pytest.mark.django_db(transaction=True)
def test_a_tenant_locked_caller_cannot_reach_a_global_key_another_tenant_signs_with(
    gunicorn, world: World
) -> None:
    b, _, _ = _other_tenant()
    shared = signing_key_generate(tenant=None, algorithm="ES256", name="B's global signer").key
    tenant_signing_key_set(tenant=b, key=shared)
    spare = signing_key_generate(tenant=None, algorithm="ES256", name="nobody's").key
    _, locked = make_api_key(tenant=world.tenant)
    server = gunicorn(workers=2)
    a = world.tenant.pk
    before = Tenant.objects.get(pk=a).access_token_signing_key_id

    vend = _call(server, "POST", "/api/jwt/vend", locked, {"keyId": str(shared.pk), "claims": {}})
    assert vend.status == 400 and "keyId" in vend.json()["fieldErrors"]
    point = {"tenant": {"jwtConfiguration": {"accessTokenKeyId": str(shared.pk)}}}
    patched = _call(server, "PATCH", f"/api/tenant/{a}", locked, point)
    assert patched.status == 400, patched.body
    app = {
        "application": {
            "name": "x",
            "jwtConfiguration": {"enabled": True, "accessTokenKeyId": str(shared.pk)},
        }
    }
    assert _call(server, "POST", "/api/application", locked, app).status == 400
    assert Tenant.objects.get(pk=a).access_token_signing_key_id == before

    # A global key nobody else signs with stays within reach, and a global caller may share keys.
    assert (
        _call(server, "POST", "/api/jwt/vend", locked, {"keyId": str(spare.pk), "claims": {}}).status == 200
    )
    assert _call(server, "PATCH", f"/api/tenant/{a}", world.api_key, point).status == 200


@pytest.mark.django_db(transaction=True)
def test_issuers_are_unique_per_tenant(gunicorn, world: World) -> None:
    b, _, _ = _other_tenant()
    _, locked = make_api_key(tenant=world.tenant)
    server = gunicorn(workers=2)
    copy = _call(server, "PATCH", f"/api/tenant/{world.tenant.pk}", locked, {"tenant": {"issuer": b.issuer}})
    assert copy.status == 400 and "tenant.issuer" in copy.json()["fieldErrors"]
    same_but_case = {"tenant": {"name": "C", "issuer": b.issuer.upper()}}
    assert _call(server, "POST", "/api/tenant", world.api_key, same_but_case).status == 400
    created = _call(server, "POST", "/api/tenant", world.api_key, {"tenant": {"name": "D"}})
    assert created.status == 200 and created.json()["tenant"]["issuer"].startswith("urn:uuid:")
    assert Tenant.objects.get(pk=world.tenant.pk).issuer == world.tenant.issuer
