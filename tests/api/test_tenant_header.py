"""The X-FusionAuth-TenantId rules (identity/caller.py) hold on every endpoint family.

One table decides: a malformed header is a 400 field error everywhere; a tenant-locked key naming
any tenant but its own is a 401; otherwise the header confines the caller to the tenant it names,
so objects of other tenants (and of a tenant that does not exist) are not found, and endpoints
that act in "the request's tenant" act in it (or answer `[invalid]tenantId` if it does not exist).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from identity.models import Application
from identity.services.signing_keys import signing_key_generate, tenant_signing_key_set
from tests.api.helpers import db_state
from tests.factories import TenantFactory, make_api_key

pytestmark = pytest.mark.django_db

VARIANTS = ("missing", "malformed", "unknown", "other", "own")


@dataclass
class Scene:
    world: Any
    other_tenant_id: str
    global_key: str
    locked_key: str
    locked_key_id: str
    session: dict[str, Any]


@pytest.fixture
def scene(world, session, default_tenant) -> Scene:
    other = TenantFactory()
    # Vend without a header signs in the default tenant (seed 004): give it its signer.
    signer = signing_key_generate(tenant=default_tenant, algorithm="ES256", name="default").key
    tenant_signing_key_set(tenant=default_tenant, key=signer)
    _, global_key = make_api_key(key_manager=True)
    locked, locked_key = make_api_key(tenant=world.tenant, key_manager=True)
    return Scene(world, str(other.pk), global_key, locked_key, str(locked.pk), session)


def _header(scene: Scene, variant: str) -> dict[str, str]:
    value = {
        "missing": None,
        "malformed": "not-a-tenant-id",
        "unknown": str(uuid.uuid4()),
        "other": scene.other_tenant_id,
        "own": str(scene.world.tenant.pk),
    }[variant]
    return {} if value is None else {"HTTP_X_FUSIONAUTH_TENANTID": value}


@dataclass(frozen=True)
class Family:
    """An endpoint family. `resolves`: it acts in the request's tenant rather than on an object
    that names its own; `hidden`: its answer for what lies outside the caller's tenant; `foreign`:
    its answer when a global key names another (existing) tenant; `tenantless`: shared
    configuration that no tenant header scopes; `infers`: FusionAuth never needs the header there
    (seed 004), so a global key naming no tenant is answered even with several tenants."""

    call: Callable[[Any, Scene, dict[str, str]], Any]
    resolves: bool = False
    hidden: int = 404
    foreign: int | None = None
    tenantless: bool = False
    infers: bool = False


def _get(path: Callable[[Scene], str]) -> Callable[[Any, Scene, dict[str, str]], Any]:
    return lambda client, scene, headers: client.get(path(scene), **headers)


def _login(client, scene, headers, **body):
    body = {"loginId": "ann@example.com", "password": scene.world.password, **body}
    return client.post("/api/login", body, format="json", **headers)


KEYED = {
    "tenant": Family(_get(lambda s: f"/api/tenant/{s.world.tenant.pk}")),
    "application": Family(_get(lambda s: f"/api/application/{s.world.application.pk}")),
    "login-backends": Family(_get(lambda s: f"/api/application/{s.world.application.pk}/login-backend")),
    "application-list": Family(_get(lambda s: "/api/application"), hidden=200),
    "tenant-list": Family(_get(lambda s: "/api/tenant"), hidden=200),
    "user": Family(_get(lambda s: f"/api/user/{s.world.user.pk}")),
    "user-create": Family(
        lambda c, s, h: c.post("/api/user", {"user": {"email": "new@example.com"}}, format="json", **h),
        resolves=True,
        foreign=200,
    ),
    "user-search": Family(_get(lambda s: "/api/user?email=ann@example.com"), resolves=True, foreign=404),
    "registration": Family(
        _get(lambda s: f"/api/user/registration/{s.world.user.pk}/{s.world.application.pk}")
    ),
    "api-key": Family(_get(lambda s: f"/api/api-key/{s.locked_key_id}")),
    "refresh-tokens": Family(_get(lambda s: f"/api/jwt/refresh?userId={s.world.user.pk}")),
    "refresh-revoke": Family(lambda c, s, h: c.delete(f"/api/jwt/refresh?userId={s.world.user.pk}", **h)),
    "refresh-token": Family(_get(lambda s: f"/api/jwt/refresh/{s.session['refreshTokenId']}")),
    "vend": Family(
        lambda c, s, h: c.post("/api/jwt/vend", {"claims": {"x": 1}}, format="json", **h),
        resolves=True,
        foreign=200,
        infers=True,
    ),
    "login": Family(lambda c, s, h: _login(c, s, h, applicationId=str(s.world.application.pk)), hidden=400),
    "login-without-application": Family(lambda c, s, h: _login(c, s, h), resolves=True, foreign=404),
    "login-ping": Family(
        lambda c, s, h: c.put(
            f"/api/login/{s.world.user.pk}/{s.world.application.pk}", {}, format="json", **h
        )
    ),
    "key-store": Family(_get(lambda s: "/api/key"), tenantless=True),
}


def _expected_keyed(family: Family, locked: bool, variant: str) -> int:
    if variant == "malformed":
        return 400
    if locked:
        if family.tenantless:
            return 401  # the key store needs a global key, whatever the header says
        return 401 if variant in ("unknown", "other") else 200
    if variant == "missing":
        # two tenants: [TenantIdRequired] unless the request itself implies the tenant
        return 400 if family.resolves and not family.infers else 200
    if variant == "own" or family.tenantless:
        return 200
    if family.resolves:
        return 400 if variant == "unknown" else (family.foreign or 200)
    return family.hidden


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("locked", [False, True], ids=["global-key", "locked-key"])
@pytest.mark.parametrize("name", list(KEYED))
def test_api_key_endpoints(api_client, scene, name, locked, variant):
    family = KEYED[name]
    headers = {
        "HTTP_AUTHORIZATION": scene.locked_key if locked else scene.global_key,
        **_header(scene, variant),
    }
    before = db_state()
    response = family.call(api_client, scene, headers)
    expected = _expected_keyed(family, locked, variant)
    assert response.status_code == expected, response.content
    _assert_body(response, variant, family, locked)
    if expected >= 400:
        assert db_state() == before
    if variant in ("unknown", "other") and not locked:
        if name == "application-list":
            assert response.json()["applications"] == []
        if name == "tenant-list":
            expected_ids = [scene.other_tenant_id] if variant == "other" else []
            assert [t["id"] for t in response.json()["tenants"]] == expected_ids


def _assert_body(response, variant, family, locked):
    if response.status_code == 401 or (response.status_code == 404 and not family.resolves):
        assert response.content == b""
    elif variant == "malformed":
        assert response.json() == {
            "fieldErrors": {
                "tenantId": [
                    {
                        "code": "[invalid]tenantId",
                        "message": "X-FusionAuth-TenantId is not a tenant id.",
                    }
                ]
            }
        }
    elif response.status_code == 400 and variant == "unknown" and family.resolves:
        assert response.json()["fieldErrors"]["tenantId"][0]["code"] == "[invalid]tenantId"
    elif response.status_code == 400 and variant == "missing":
        assert response.json()["generalErrors"][0]["code"] == "[TenantIdRequired]"


def _refresh(client, scene, headers):
    return client.post(
        "/api/jwt/refresh", {"refreshToken": scene.session["refreshToken"]}, format="json", **headers
    )


def _validate(client, scene, headers):
    return client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {scene.session['token']}", **headers)


def _anonymous_login(client, scene, headers):
    Application.objects.filter(pk=scene.world.application.pk).update(require_authentication=False)
    return _login(client, scene, headers, applicationId=str(scene.world.application.pk))


ANONYMOUS = {
    "validate": Family(_validate, hidden=401),
    "refresh": Family(_refresh, hidden=400),
    "login": Family(_anonymous_login, hidden=400),
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", list(ANONYMOUS))
def test_anonymous_token_endpoints(api_client, scene, name, variant):
    """No key: the header still confines the request to the tenant it names, and a malformed one
    is the same field error as everywhere else."""
    family = ANONYMOUS[name]
    before = db_state()
    response = family.call(api_client, scene, _header(scene, variant))
    expected = {"malformed": 400, "unknown": family.hidden, "other": family.hidden}.get(variant, 200)
    assert response.status_code == expected, response.content
    if variant == "malformed":
        assert response.json()["fieldErrors"]["tenantId"][0]["code"] == "[invalid]tenantId"
    elif expected == 400:
        assert set(response.json()["fieldErrors"]) == {
            "refreshToken" if name == "refresh" else "applicationId"
        }
    if expected >= 400:
        assert db_state() == before


def _second_session(client, scene, headers):
    """Another login of the world's user, so revoking it leaves the scene's session alone."""
    body = {"loginId": "ann@example.com", "password": scene.world.password}
    body["applicationId"] = str(scene.world.application.pk)
    return client.post("/api/login", body, format="json", **headers).json()


# The fifteen requests of seed 004 (FusionAuth's JWT & Refresh Token APIs), twelve documented as:
# "The tenant Id is not required on this request even when more than one tenant has been
# configured", the other three listing no tenant header. Sent with a global API key (or the user's
# token, or nothing, as the endpoint is authenticated), no header, three tenants: the status each
# must answer.
SEED_004 = {
    "GET /api/jwt/issue": (
        lambda c, s, h: c.get(
            f"/api/jwt/issue?applicationId={s.world.application.pk}",
            HTTP_AUTHORIZATION=f"Bearer {s.session['token']}",
        ),
        200,
    ),
    "POST /api/jwt/reconcile": (
        lambda c, s, h: c.post(
            "/api/jwt/reconcile",
            {
                "applicationId": str(s.world.application.pk),
                "identityProviderId": str(uuid.uuid4()),
                "encodedJWT": "not.a.token",
            },
            format="json",
        ),
        401,  # the token decides; never the tenant
    ),
    "GET /api/jwt/public-key": (lambda c, s, h: c.get("/api/jwt/public-key"), 200),
    "GET /api/jwt/public-key?applicationId": (
        lambda c, s, h: c.get(f"/api/jwt/public-key?applicationId={s.world.application.pk}"),
        200,
    ),
    "GET /api/jwt/public-key?kid": (
        lambda c, s, h: c.get(f"/api/jwt/public-key?kid={s.world.tenant.access_token_signing_key.kid}"),
        200,
    ),
    "POST /api/jwt/refresh": (_refresh, 200),
    "GET /api/jwt/refresh/{tokenId}": (
        lambda c, s, h: c.get(f"/api/jwt/refresh/{s.session['refreshTokenId']}", **h),
        200,
    ),
    "GET /api/jwt/refresh?userId": (
        lambda c, s, h: c.get(f"/api/jwt/refresh?userId={s.world.user.pk}", **h),
        200,
    ),
    "DELETE /api/jwt/refresh?applicationId": (
        lambda c, s, h: c.delete(f"/api/jwt/refresh?applicationId={s.world.application.pk}", **h),
        200,
    ),
    "DELETE /api/jwt/refresh?userId": (
        lambda c, s, h: c.delete(f"/api/jwt/refresh?userId={s.world.user.pk}", **h),
        200,
    ),
    "DELETE /api/jwt/refresh?applicationId&userId": (
        lambda c, s, h: c.delete(
            f"/api/jwt/refresh?applicationId={s.world.application.pk}&userId={s.world.user.pk}", **h
        ),
        200,
    ),
    "DELETE /api/jwt/refresh/{tokenId}": (
        lambda c, s, h: c.delete(f"/api/jwt/refresh/{_second_session(c, s, h)['refreshTokenId']}", **h),
        200,
    ),
    "DELETE /api/jwt/refresh?token": (
        lambda c, s, h: c.delete(f"/api/jwt/refresh?token={_second_session(c, s, h)['refreshToken']}", **h),
        200,
    ),
    "GET /api/jwt/validate": (lambda c, s, h: _validate(c, s, {}), 200),
    "POST /api/jwt/vend": (
        lambda c, s, h: c.post("/api/jwt/vend", {"claims": {"x": 1}}, format="json", **h),
        200,
    ),
}


@pytest.mark.parametrize("name", list(SEED_004))
def test_seed_004_requests_never_need_the_tenant_header(api_client, scene, name):
    call, expected = SEED_004[name]
    response = call(api_client, scene, {"HTTP_AUTHORIZATION": scene.global_key})
    assert response.status_code == expected, response.content
    assert b"TenantIdRequired" not in response.content
