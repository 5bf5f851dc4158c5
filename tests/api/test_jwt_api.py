"""/api/jwt/validate, /issue, /vend, /reconcile over HTTP; checklist cases 1-13 and 25-32, each
also asserting that nothing changed in the database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.utils import timezone

from identity.key_store import key_snapshot
from identity.models import IdentityProviderLink, RefreshToken, Registration, User
from identity.services.applications import application_set_active, application_update
from identity.services.identity_providers import external_jwt_provider_create
from identity.services.refresh_tokens import RevokeReason, refresh_token_create, refresh_tokens_revoke
from identity.services.registrations import registration_create
from identity.services.signing_keys import signing_key_generate, signing_key_import, tenant_signing_key_set
from identity.services.tenants import tenant_update
from identity.services.users import user_update
from identity.signing import TokenKind, load_key, sign
from tests.api.helpers import db_state
from tests.factories import UNKNOWN_ID, ApplicationFactory, TenantFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db


def _b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unverified(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _validate(api_client, token=None, **headers):
    if token is not None:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {token}")
    return api_client.get("/api/jwt/validate", **headers)


# --- validate -------------------------------------------------------------------------------


def test_validate_returns_the_claims(api_client, world, session):
    response = _validate(api_client, session["token"])
    assert response.status_code == 200
    claims = response.json()["jwt"]
    assert claims["sub"] == str(world.user.pk) and claims["roles"] == ["user"]
    assert claims["exp"] < 10**11 and claims["iat"] < 10**11  # seconds, not milliseconds


def test_validate_reads_the_cookie_and_the_legacy_scheme(api_client, world, session):
    api_client.cookies["access_token"] = session["token"]
    assert _validate(api_client).status_code == 200
    api_client.cookies.clear()
    assert _validate(api_client, HTTP_AUTHORIZATION=f"JWT {session['token']}").status_code == 200


def test_validate_does_no_sql_once_keys_are_cached(api_client, world, session, django_assert_num_queries):
    _validate(api_client, session["token"])
    key_snapshot()
    with django_assert_num_queries(0):
        assert _validate(api_client, session["token"]).status_code == 200


def _hostile_tokens(world, session) -> list[tuple[str, str]]:
    """Checklist cases 1-12 at the endpoint: (label, header value)."""
    token = session["token"]
    head, payload, signature = token.split(".")
    claims = _unverified(token)
    kid = jwt.get_unverified_header(token)["kid"]
    public_pem = world.tenant.access_token_signing_key.public_key
    forged_claims = _b64(json.dumps({**claims, "sub": str(uuid.uuid4()), "roles": ["admin"]}))

    def hs256(header: dict, body: dict, secret: bytes) -> str:
        signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(body))}"
        return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"

    other_tenant = TenantFactory()
    other_key = signing_key_generate(tenant=other_tenant, algorithm="ES256", name="x").key
    tenant_signing_key_set(tenant=other_tenant, key=other_key)

    cross = sign(
        claims={**claims, "tid": str(world.tenant.pk)},
        key=load_key(other_key),
        kind=TokenKind.ACCESS,
        now=timezone.now(),
    )
    attacker = ec.generate_private_key(ec.SECP256R1())
    embedded = jwt.encode(
        claims,
        attacker,
        algorithm="ES256",
        headers={
            "kid": kid,
            "tkn": "access",
            "jwk": json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key())),
        },
    )
    now = int(time.time())
    return [
        ("empty bearer", "Bearer "),
        ("garbage", "Bearer garbage"),
        ("two segments", f"Bearer {head}.{payload}"),
        ("five segments", f"Bearer {token}.a.b"),
        ("alg none", f"Bearer {_b64(json.dumps({'alg': 'none', 'kid': kid, 'tkn': 'access'}))}.{payload}."),
        ("alg nOnE", f"Bearer {_b64(json.dumps({'alg': 'nOnE', 'kid': kid, 'tkn': 'access'}))}.{payload}."),
        ("stripped signature", f"Bearer {head}.{payload}."),
        ("truncated signature", f"Bearer {head}.{payload}.{signature[:-6]}"),
        ("payload changed", f"Bearer {head}.{forged_claims}.{signature}"),
        ("padding appended", f"Bearer {token}="),
        (
            "public key as HMAC secret",
            "Bearer " + hs256({"alg": "HS256", "kid": kid, "tkn": "access"}, claims, public_pem.encode()),
        ),
        ("other tenant's key", f"Bearer {cross}"),
        (
            "unknown kid",
            "Bearer " + hs256({"alg": "HS256", "kid": "nope", "tkn": "access"}, claims, b"1" * 32),
        ),
        (
            "traversal kid",
            "Bearer " + hs256({"alg": "HS256", "kid": "../../dev/null", "tkn": "access"}, claims, b""),
        ),
        (
            "sql kid",
            "Bearer "
            + hs256({"alg": "HS256", "kid": "x' UNION SELECT '1';--", "tkn": "access"}, claims, b"1"),
        ),
        ("huge kid", "Bearer " + hs256({"alg": "HS256", "kid": "k" * 10_000, "tkn": "access"}, claims, b"1")),
        ("numeric kid", "Bearer " + hs256({"alg": "HS256", "kid": 7, "tkn": "access"}, claims, b"1")),
        ("embedded jwk", f"Bearer {embedded}"),
        (
            "crit",
            "Bearer " + hs256({"alg": "HS256", "kid": kid, "crit": ["x"], "tkn": "access"}, claims, b"1"),
        ),
        (
            "expired",
            "Bearer "
            + hs256({"alg": "HS256", "kid": kid, "tkn": "access"}, {**claims, "exp": now - 600}, b"1"),
        ),
        ("nested header", "Bearer " + _b64("[" * 100_000) + f".{payload}.{signature}"),
        ("100 KB token", "Bearer " + "a" * 100_000),
        ("1 MB token", "Bearer " + "a." * 500_000),
    ]


def test_hostile_tokens_are_401_with_empty_body_and_change_nothing(api_client, world, session):
    cases = _hostile_tokens(world, session)
    before = db_state()
    for label, header in cases:
        started = time.perf_counter()
        response = _validate(api_client, HTTP_AUTHORIZATION=header)
        elapsed = time.perf_counter() - started
        assert (response.status_code, response.content) == (401, b""), label
        assert elapsed < 0.5, label
    assert db_state() == before


def test_huge_cookie_token_is_refused(api_client, world, session):
    api_client.cookies["access_token"] = "a" * 1_000_000
    assert _validate(api_client).status_code == 401


def test_no_token_is_401(api_client, world):
    assert _validate(api_client).status_code == 401
    assert _validate(api_client, HTTP_AUTHORIZATION="").status_code == 401


def test_tenant_header_must_match(api_client, world, session):
    other = TenantFactory()
    assert (
        _validate(api_client, session["token"], HTTP_X_FUSIONAUTH_TENANTID=str(other.pk)).status_code == 401
    )
    assert (
        _validate(api_client, session["token"], HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk)).status_code
        == 200
    )


@pytest.mark.parametrize(
    "spoil",
    [
        lambda w, s: user_update(user=w.user, is_active=False),
        lambda w, s: User.objects.filter(pk=w.user.pk).update(locked_until="2999-01-01T00:00:00Z"),
        lambda w, s: application_set_active(application=w.application, active=False),
        lambda w, s: refresh_tokens_revoke(token_ids=[s["refreshTokenId"]], reason=RevokeReason.LOGOUT),
    ],
    ids=["user deactivated", "user locked", "application inactive", "session revoked"],
)
def test_state_checks_are_a_tenant_setting(api_client, world, session, spoil):
    spoil(world, session)
    assert _validate(api_client, session["token"]).status_code == 200  # FusionAuth's behaviour by default
    tenant_update(tenant=world.tenant, validate_checks_state=True)
    response = _validate(api_client, session["token"])
    assert (response.status_code, response.content) == (401, b"")


def test_malleated_signature_of_a_revoked_session_is_still_refused(api_client, world, session):
    """Checklist 13: ECDSA (r, n-s) is a second valid signature; revocation keys on sid, not text."""
    tenant_update(tenant=world.tenant, validate_checks_state=True)
    head, payload, signature = session["token"].split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    flipped = _b64((r).to_bytes(32, "big") + (n - s).to_bytes(32, "big"))
    malleated = f"{head}.{payload}.{flipped}"
    assert _validate(api_client, malleated).status_code == 200  # the library accepts it...
    refresh_tokens_revoke(token_ids=[session["refreshTokenId"]], reason=RevokeReason.LOGOUT)
    assert _validate(api_client, malleated).status_code == 401  # ...but the session is gone
    assert _validate(api_client, session["token"]).status_code == 401


# --- issue ----------------------------------------------------------------------------------


@pytest.fixture
def second_app(world):
    app = ApplicationFactory(tenant=world.tenant, generate_refresh_tokens=True, allow_token_refresh=True)
    registration_create(user=world.user, application=app)
    return app


def _issue(api_client, token, application_id, refresh=None, **headers):
    query = {"applicationId": str(application_id)}
    if refresh is not None:
        query["refreshToken"] = refresh
    return api_client.get("/api/jwt/issue", query, HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def test_issue_keeps_the_expiry_and_marks_single_sign_on(api_client, world, session, second_app):
    response = _issue(api_client, session["token"], second_app.pk)
    assert response.status_code == 200
    original, issued = _unverified(session["token"]), _unverified(response.json()["token"])
    assert issued["exp"] == original["exp"] and issued["aud"] == str(second_app.pk)
    assert issued["authenticationType"] == "JWT_SSO" and issued["applicationId"] == str(second_app.pk)
    assert "refreshToken" not in response.json()


def test_issue_for_an_unregistered_application_is_202_without_app_claims(api_client, world, session):
    other = ApplicationFactory(tenant=world.tenant)
    response = _issue(api_client, session["token"], other.pk)
    assert response.status_code == 202
    assert "roles" not in _unverified(response.json()["token"])


def test_issue_with_a_refresh_token(api_client, world, session, second_app):
    response = _issue(api_client, session["token"], second_app.pk, refresh=session["refreshToken"])
    body = response.json()
    new, old = (
        RefreshToken.objects.get(pk=body["refreshTokenId"]),
        RefreshToken.objects.get(pk=session["refreshTokenId"]),
    )
    assert (
        new.application_id == second_app.pk
        and new.started_at == old.started_at
        and new.family_id == old.family_id
    )
    assert _unverified(body["token"])["sid"] == str(new.pk)


def test_issue_refresh_cookie_beats_parameter(api_client, world, session, second_app):
    api_client.cookies["refresh_token"] = session["refreshToken"]
    body = _issue(
        api_client, session["token"], second_app.pk, refresh="bogus", HTTP_ORIGIN="http://testserver"
    ).json()
    assert "refreshToken" in body


def test_no_refresh_token_when_policies_differ_or_it_is_not_theirs(api_client, world, session, second_app):
    application_update(
        application=second_app, jwt_enabled=True, refresh_token_expiration_policy="SlidingWindow"
    )
    assert (
        "refreshToken"
        not in _issue(api_client, session["token"], second_app.pk, refresh=session["refreshToken"]).json()
    )
    application_update(application=second_app, jwt_enabled=False)
    other = UserFactory(tenant=world.tenant)
    registration_create(user=other, application=world.application)
    theirs = refresh_token_create(user=other, application=world.application).value
    assert "refreshToken" not in _issue(api_client, session["token"], second_app.pk, refresh=theirs).json()


def test_issue_chain_never_extends_the_expiry(api_client, world, session, second_app):
    token = session["token"]
    exp = _unverified(token)["exp"]
    for app in (second_app, world.application, second_app):
        token = _issue(api_client, token, app.pk).json()["token"]
        assert _unverified(token)["exp"] == exp


def test_issue_carries_the_session_id(api_client, world, session, second_app):
    issued = _issue(api_client, session["token"], second_app.pk).json()["token"]
    assert _unverified(issued)["sid"] == session["refreshTokenId"]


@pytest.mark.parametrize("end", ["logout", "revoked", "expired", "user locked", "user deactivated"])
def test_issue_refuses_a_dead_session_or_a_blocked_user(api_client, world, session, second_app, end):
    """validateChecksState's checks hold at issue whatever the tenant's validate mode (issue 18 M7)."""
    if end == "logout":
        api_client.post("/api/logout", {"refreshToken": session["refreshToken"]}, format="json")
    elif end == "revoked":
        refresh_tokens_revoke(token_ids=[session["refreshTokenId"]], reason=RevokeReason.ADMIN)
    elif end == "expired":
        RefreshToken.objects.filter(pk=session["refreshTokenId"]).update(expires_at=timezone.now())
    elif end == "user locked":
        User.objects.filter(pk=world.user.pk).update(locked_until=timezone.now() + timedelta(minutes=1))
    else:
        User.objects.filter(pk=world.user.pk).update(is_active=False)
    before = db_state()
    response = _issue(api_client, session["token"], second_app.pk, refresh=session["refreshToken"])
    assert (response.status_code, response.content) == (401, b"")
    assert db_state() == before


@pytest.mark.parametrize("target", ["not-a-uuid", "", UNKNOWN_ID, "other-tenant"])
def test_issue_for_bad_applications_gives_no_token(api_client, world, session, target):
    if target == "other-tenant":
        target = str(ApplicationFactory(tenant=TenantFactory()).pk)
    before = db_state()
    response = _issue(api_client, session["token"], target)
    assert response.status_code == 400 and "token" not in response.json()
    assert db_state() == before


def test_issue_refuses_other_kinds_of_token(api_client, world, session, second_app):
    """Checklist 29: a vended token or a refresh-token value does not authenticate a user."""
    vended = api_client.post(
        "/api/jwt/vend",
        {"claims": {"sub": str(world.user.pk)}},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    ).json()["token"]
    before = db_state()
    for token in (vended, session["refreshToken"], "garbage", ""):
        response = _issue(api_client, token, second_app.pk)
        assert (response.status_code, response.content) == (401, b"")
    assert db_state() == before
    assert api_client.get("/api/jwt/issue", {"applicationId": str(second_app.pk)}).status_code == 401


# --- vend -----------------------------------------------------------------------------------


def _vend(api_client, world, body, key=None, tenant=True):
    headers = {"HTTP_AUTHORIZATION": key or world.api_key}
    if tenant:
        headers["HTTP_X_FUSIONAUTH_TENANTID"] = str(world.tenant.pk)
    return api_client.post("/api/jwt/vend", body, format="json", **headers)


def test_vend(api_client, world):
    response = _vend(
        api_client,
        world,
        {"claims": {"foo": "bar", "exp": 1, "iat": 2, "amr": ["x"]}, "timeToLiveInSeconds": 60},
    )
    assert response.status_code == 200
    token = response.json()["token"]
    claims = _unverified(token)
    assert (
        claims["foo"] == "bar"
        and "amr" not in claims
        and claims["exp"] - claims["iat"] == 60
        and claims["jti"]
    )
    assert jwt.get_unverified_header(token)["tkn"] == "vend"
    assert _validate(api_client, token).json()["jwt"]["foo"] == "bar"


def test_vend_defaults_to_the_tenant_ttl_and_key(api_client, world):
    token = _vend(api_client, world, {"claims": {}}).json()["token"]
    claims = _unverified(token)
    assert claims["exp"] - claims["iat"] == world.tenant.access_token_ttl_seconds
    assert jwt.get_unverified_header(token)["kid"] == world.tenant.access_token_signing_key.kid


@pytest.mark.parametrize(
    "body",
    [
        {"claims": {}, "timeToLiveInSeconds": 0},
        {"claims": {}, "timeToLiveInSeconds": -1},
        {"claims": {}, "timeToLiveInSeconds": "ten"},
        {"claims": {}, "timeToLiveInSeconds": 10**12},
        {"claims": "not an object"},
        {"claims": ["a"]},
        {"claims": {"big": "x" * 70_000}},
        {"claims": {}, "keyId": "not-a-uuid"},
        {"claims": {}, "keyId": str(uuid.uuid4())},
    ],
)
def test_bad_vend_requests_are_400(api_client, world, body):
    response = _vend(api_client, world, body)
    assert response.status_code == 400 and response.json()


NEVER_VERIFIABLE = [
    ("sub", 5),
    ("sub", None),
    ("sub", ["a"]),
    ("nbf", "x"),
    ("nbf", True),
    ("nbf", None),
    ("nbf", 10**30),
    ("nbf", 9_999_999_999),  # after the token's own expiry
    ("auth_time", "yesterday"),
]


@pytest.mark.parametrize(("name", "value"), NEVER_VERIFIABLE)
def test_vend_refuses_registered_claims_no_verifier_takes(api_client, world, name, value):
    """A vended token validate would refuse (or, for a null nbf, answer 500 to) is a 400 naming the
    claim, before anything is signed."""
    response = _vend(api_client, world, {"claims": {name: value}})
    assert response.status_code == 400, response.content
    assert f"claims.{name}" in response.json()["fieldErrors"]


@pytest.mark.parametrize("claims", [{"nbf": 1}, {"sub": ""}, {"aud": ""}, {"aud": []}, {"auth_time": 1.5}])
def test_claims_vend_takes_verify_at_validate(api_client, world, claims):
    response = _vend(api_client, world, {"claims": claims})
    assert response.status_code == 200, response.content
    assert _validate(api_client, response.json()["token"]).status_code == 200


def test_vend_never_signs_with_a_foreign_or_verify_only_key(api_client, world):
    foreign = signing_key_generate(tenant=TenantFactory(), algorithm="ES256", name="f").key
    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    verify_only = signing_key_import(tenant=world.tenant, name="v", public_key=public)
    for key in (foreign, verify_only):
        response = _vend(api_client, world, {"claims": {}, "keyId": str(key.pk)})
        assert response.status_code == 400 and "keyId" in response.json()["fieldErrors"]
    own = signing_key_generate(tenant=world.tenant, algorithm="HS256", name="own").key
    token = _vend(api_client, world, {"claims": {}, "keyId": str(own.pk)}).json()["token"]
    assert jwt.get_unverified_header(token)["kid"] == own.kid


def test_vend_authentication(api_client, world):
    assert _vend(api_client, world, {"claims": {}}, key="wrong").status_code == 401
    _, no_permission = make_api_key(permissions={"/api/jwt/refresh": ["GET"]})
    assert _vend(api_client, world, {"claims": {}}, key=no_permission).status_code == 401
    _, foreign = make_api_key(tenant=TenantFactory())
    assert _vend(api_client, world, {"claims": {}}, key=foreign).status_code == 401  # names our tenant


def test_vend_without_a_tenant_header_uses_the_keys_tenant(api_client, world, default_tenant):
    """Seed 004: the tenant Id is not required on vend even with several tenants. A global key naming
    no tenant vends in the tenant of `keyId`."""
    TenantFactory()  # a third tenant: nothing here may depend on there being only one
    hmac_key = signing_key_generate(tenant=world.tenant, algorithm="HS256", name="w").key
    response = _vend(api_client, world, {"claims": {}, "keyId": str(hmac_key.pk)}, tenant=False)
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    assert jwt.get_unverified_header(token)["kid"] == hmac_key.kid
    assert _unverified(token)["tid"] == str(world.tenant.pk)
    assert _unverified(token)["iss"] == world.tenant.issuer


def test_vend_without_a_tenant_header_or_key_uses_the_default_tenant(api_client, world, default_tenant):
    TenantFactory()
    signer = signing_key_generate(tenant=default_tenant, algorithm="ES256", name="default").key
    default_tenant = tenant_signing_key_set(tenant=default_tenant, key=signer)
    token = _vend(api_client, world, {"claims": {"x": 1}}, tenant=False).json()["token"]
    claims = _unverified(token)
    assert claims["tid"] == str(default_tenant.pk) and claims["iss"] == default_tenant.issuer
    assert jwt.get_unverified_header(token)["kid"] == default_tenant.access_token_signing_key.kid
    global_key = signing_key_generate(tenant=None, algorithm="ES256", name="global").key
    body = {"claims": {}, "keyId": str(global_key.pk)}
    token = _vend(api_client, world, body, tenant=False).json()["token"]
    assert _unverified(token)["tid"] == str(default_tenant.pk)
    assert jwt.get_unverified_header(token)["kid"] == global_key.kid


def test_vend_in_a_default_tenant_without_a_signer_says_so(api_client, world, default_tenant):
    TenantFactory()
    assert default_tenant.access_token_signing_key is None  # as migration 0002 creates it
    before = db_state()
    response = _vend(api_client, world, {"claims": {}}, tenant=False)
    assert response.status_code == 400
    [error] = response.json()["fieldErrors"]["keyId"]
    assert error["code"] == "[invalid]keyId" and "Default has no signing key" in error["message"]
    assert db_state() == before


@pytest.mark.parametrize("key_id", [UNKNOWN_ID, "not-a-uuid", "", None])
def test_vend_without_a_tenant_header_and_a_bad_key_is_400(api_client, world, default_tenant, key_id):
    TenantFactory()
    before = db_state()
    response = _vend(api_client, world, {"claims": {}, "keyId": key_id}, tenant=False)
    assert response.status_code == 400, response.content
    assert "keyId" in response.json()["fieldErrors"]
    assert db_state() == before


def test_a_locked_key_vends_in_its_tenant_never_the_keyids(api_client, world):
    _, locked = make_api_key(tenant=world.tenant)
    other = signing_key_generate(tenant=TenantFactory(), algorithm="HS256", name="o").key
    response = _vend(api_client, world, {"claims": {}, "keyId": str(other.pk)}, key=locked, tenant=False)
    assert response.status_code == 400 and "keyId" in response.json()["fieldErrors"]
    token = _vend(api_client, world, {"claims": {}}, key=locked, tenant=False).json()["token"]
    assert _unverified(token)["tid"] == str(world.tenant.pk)


@pytest.mark.parametrize(
    "payload",
    ['{"claims": ' + "[" * 100_000 + "]" * 100_000 + "}", '{"claims": {"a": "' + "x" * 1_100_000 + '"}}'],
)
def test_vend_hostile_bodies(api_client, world, payload):
    started = time.perf_counter()
    response = api_client.post(
        "/api/jwt/vend",
        payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=world.api_key,
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert response.status_code in (400, 413) and response.json()["generalErrors"]
    assert time.perf_counter() - started < 1


# --- reconcile ------------------------------------------------------------------------------


@pytest.fixture
def provider(world):
    external = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        external.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = signing_key_import(tenant=world.tenant, name="partner", public_key=public, kid="partner-1")
    record = external_jwt_provider_create(
        tenant=world.tenant,
        name="Partner",
        keys=[key],
        applications=[world.application],
        claim_map={"given_name": "first_name"},
        issuer="https://partner.example.com",
    )
    return record, external


def _foreign(private_key, **claims) -> str:
    now = int(time.time())
    body = {"iss": "https://partner.example.com", "iat": now, "exp": now + 300, **claims}
    return jwt.encode(body, private_key, algorithm="RS256", headers={"kid": "partner-1"})


def _reconcile(api_client, world, provider_id, token, application_id=None):
    return api_client.post(
        "/api/jwt/reconcile",
        {
            "applicationId": str(application_id or world.application.pk),
            "identityProviderId": str(provider_id),
            "data": {"token": token},
        },
        format="json",
    )


def test_reconcile_creates_links_and_registers_a_new_user(api_client, world, provider):
    record, external = provider
    from identity.models import AuditEntry

    before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response = _reconcile(
        api_client, world, record.pk, _foreign(external, email="zoe@partner.example", given_name="Zoe")
    )
    assert response.status_code == 200, response.content
    body = response.json()
    user = User.objects.get(pk=body["user"]["id"])
    assert (user.email, user.first_name, user.has_usable_password()) == ("zoe@partner.example", "Zoe", False)
    assert Registration.objects.get(user=user, application=world.application).roles == ["user"]
    assert body["refreshToken"] and _unverified(body["token"])["authenticationType"] == "FEDERATED_JWT"
    again = _reconcile(api_client, world, record.pk, _foreign(external, email="zoe@partner.example"))
    assert again.json()["user"]["id"] == str(user.pk)
    assert IdentityProviderLink.objects.filter(user=user).count() == 1
    # The first reconcile's changes are audited (user, registration, link); the second changes
    # nothing but the link's last login, and records nothing.
    link = IdentityProviderLink.objects.get(user=user)
    registration = Registration.objects.get(user=user)
    reconciled = sorted(AuditEntry.objects.filter(id__gt=before).values_list("action", "object_id"))
    assert reconciled == sorted(
        [
            ("identity_provider_link.create", str(link.pk)),
            ("registration.create", str(registration.pk)),
            ("user.create", str(user.pk)),
        ]
    )


def test_reconcile_links_an_existing_account_by_email(api_client, world, provider):
    record, external = provider
    body = _reconcile(api_client, world, record.pk, _foreign(external, email="ANN@example.com")).json()
    assert body["user"]["id"] == str(world.user.pk)


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"locked_until": timezone.now() + timedelta(days=1), "failed_login_count": 2}, 409),
        ({"is_active": False}, 423),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, 410),
    ],
)
def test_reconcile_refuses_whom_login_refuses(api_client, world, provider, change, status):
    """Issue 18 H3: the login's state rule, and the failure counter and lock stay as they were."""
    record, external = provider
    User.objects.filter(pk=world.user.pk).update(**change)
    before = db_state()
    response = _reconcile(api_client, world, record.pk, _foreign(external, email="ann@example.com"))
    assert response.status_code == status and "token" not in response.json()
    assert db_state() == before
    assert not IdentityProviderLink.objects.filter(user=world.user).exists()


@pytest.mark.parametrize("case", ["unknown provider", "unknown app", "app not allowed", "malformed ids"])
def test_reconcile_with_bad_ids_is_401(api_client, world, provider, case):
    record, external = provider
    token = _foreign(external, email="x@partner.example")
    not_allowed = ApplicationFactory(tenant=world.tenant)
    before = db_state()
    if case == "unknown provider":
        response = _reconcile(api_client, world, uuid.uuid4(), token)
    elif case == "unknown app":
        response = _reconcile(api_client, world, record.pk, token, application_id=uuid.uuid4())
    elif case == "app not allowed":
        response = _reconcile(api_client, world, record.pk, token, application_id=not_allowed.pk)
    else:
        response = api_client.post(
            "/api/jwt/reconcile",
            {"applicationId": "x", "identityProviderId": "y", "data": {"token": token}},
            format="json",
        )
    assert response.status_code in ((400,) if case == "malformed ids" else (401,))
    assert db_state() == before


@pytest.mark.parametrize(
    "make",
    [
        lambda ext: _foreign(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), email="x@p.example"
        ),
        lambda ext: _foreign(ext, email="x@p.example", iss="https://evil.example"),
        lambda ext: _foreign(ext, email="x@p.example", exp=int(time.time()) - 600),
        lambda ext: jwt.encode(
            {"email": "x@p.example", "exp": int(time.time()) + 60, "iss": "https://partner.example.com"},
            "secret" * 8,
            algorithm="HS256",
            headers={"kid": "partner-1"},
        ),
    ],
    ids=["wrong key", "wrong issuer", "expired", "hmac with kid"],
)
def test_reconcile_refuses_bad_foreign_tokens(api_client, world, provider, make):
    record, external = provider
    before = db_state()
    response = _reconcile(api_client, world, record.pk, make(external))
    assert (response.status_code, response.content) == (401, b"")
    assert db_state() == before


def test_reconcile_needs_the_identity_claim(api_client, world, provider):
    record, external = provider
    response = _reconcile(api_client, world, record.pk, _foreign(external, sub="no-email"))
    assert response.status_code == 400
