"""`/oauth2/token` and `/connect/token` over HTTP (Django's test client)."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any
from urllib.parse import quote_plus, urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity.models import OAuthAssertionJti, OAuthConfiguration
from identity.services.oauth_clients import oauth_client_configure
from identity.services.signing_keys import signing_key_import
from tests.api.helpers import db_state
from tests.factories import ApplicationFactory

FORM = "application/x-www-form-urlencoded"
TOKEN_PATHS = ["/oauth2/token", "/connect/token"]


@pytest.fixture
def oauth_client(world) -> tuple[Any, str]:
    configured = oauth_client_configure(
        application=world.application,
        scopes=["read", "write"],
        enabled_grants=["client_credentials", "refresh_token"],
    )
    assert configured.client_secret is not None
    return world.application, configured.client_secret


def form_post(api_client, path: str, data: dict[str, str] | str, **headers: str):  # type: ignore[no-untyped-def]
    body = data if isinstance(data, str) else urlencode(data)
    return api_client.generic("POST", path, body, content_type=FORM, **headers)


def basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def full_state() -> dict[str, Any]:
    return {
        **db_state(),
        "oauth": sorted(OAuthConfiguration.objects.values_list("pk", "client_secret_digest", "updated_at")),
        "jtis": OAuthAssertionJti.objects.count(),
    }


def assert_no_store(response) -> None:  # type: ignore[no-untyped-def]
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_client_credentials_in_body_and_basic(api_client, oauth_client, path) -> None:
    application, secret = oauth_client
    for response in (
        form_post(
            api_client,
            path,
            {"grant_type": "client_credentials", "client_id": str(application.pk), "client_secret": secret},
        ),
        form_post(
            api_client,
            path,
            {"grant_type": "client_credentials", "scope": "read"},
            HTTP_AUTHORIZATION=basic(str(application.pk), secret),
        ),
    ):
        assert response.status_code == 200, response.content
        assert_no_store(response)
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
        assert body["token_type"] == "Bearer"
        validated = api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
        assert validated.status_code == 200
        assert validated.json()["jwt"]["client_id"] == str(application.pk)
        issue = api_client.get(
            f"/api/jwt/issue?applicationId={application.pk}",
            HTTP_AUTHORIZATION=f"Bearer {body['access_token']}",
        )
        assert issue.status_code == 401


def test_refresh_grant_in_rfc_shape(api_client, oauth_client, session) -> None:
    application, secret = oauth_client
    response = form_post(
        api_client,
        "/oauth2/token",
        {"grant_type": "refresh_token", "refresh_token": session["refreshToken"]},
        HTTP_AUTHORIZATION=basic(str(application.pk), secret),
    )
    assert response.status_code == 200, response.content
    assert_no_store(response)
    body = response.json()
    assert body["refresh_token"] == session["refreshToken"] and body["token_type"] == "Bearer"
    assert (
        api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").status_code
        == 200
    )


def _good(application, secret: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"grant_type": "client_credentials", "client_id": str(application.pk), "client_secret": secret}


HOSTILE: list[tuple[str, Any, int, str]] = [
    ("json body", "json", 400, "invalid_request"),
    ("duplicate grant_type", "dup", 400, "invalid_request"),
    ("oversized value", "big", 400, "invalid_request"),
    ("NUL byte", "nul", 400, "invalid_request"),
    ("non-ascii body", "latin", 400, "invalid_request"),
    ("too many fields", "many", 400, "invalid_request"),
    ("malformed basic", "badbasic", 401, "invalid_client"),
    ("basic without colon", "nocolon", 401, "invalid_client"),
    ("wrong secret over basic", "wrongbasic", 401, "invalid_client"),
    ("basic and body secret", "twomethods", 400, "invalid_request"),
    ("unknown client", "unknown", 401, "invalid_client"),
    ("client id not a uuid", "notuuid", 401, "invalid_client"),
    ("missing grant type", "nogrant", 400, "invalid_request"),
    ("unsupported grant type", "password", 400, "unsupported_grant_type"),
    ("grant not enabled", "notenabled", 400, "unauthorized_client"),
    ("disabled application", "disabled", 401, "invalid_client"),
    ("scope not allowed", "scope", 400, "invalid_scope"),
    ("bad assertion type", "asserttype", 400, "invalid_request"),
    ("garbage assertion", "assertion", 401, "invalid_client"),
    ("refresh token of garbage", "badrefresh", 400, "invalid_grant"),
    ("empty body", "empty", 400, "invalid_request"),
    ("multipart body", "multipart", 400, "invalid_request"),
    ("NUL byte in a parameter name", "nulname", 400, "invalid_request"),
    ("duplicate client_id", "dupid", 400, "invalid_request"),
    ("client_id differs from basic", "otherid", 400, "invalid_request"),
    ("NUL byte in basic", "nulbasic", 401, "invalid_client"),
    ("oversized basic", "bigbasic", 401, "invalid_client"),
    ("basic with empty id", "noidbasic", 401, "invalid_client"),
    ("oversized secret", "bigsecret", 401, "invalid_client"),
    ("unknown client over basic", "unknownbasic", 401, "invalid_client"),
    ("another scheme in the Authorization header", "bearer", 401, "invalid_client"),
    ("client id in upper case", "upperid", 401, "invalid_client"),
    ("client id in braces", "bracedid", 401, "invalid_client"),
    ("client id as a urn", "urnid", 401, "invalid_client"),
    ("client id without hyphens", "hexid", 401, "invalid_client"),
    ("client id in upper case over basic", "upperbasic", 401, "invalid_client"),
]
# The cases that sent an Authorization header: their 401 carries the Basic challenge (RFC 6749 §5.2).
BASIC_CHALLENGED = {
    "badbasic",
    "nocolon",
    "wrongbasic",
    "nulbasic",
    "bigbasic",
    "noidbasic",
    "unknownbasic",
    "bearer",
    "upperbasic",
}


@pytest.mark.parametrize(("case", "kind", "status", "error"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_is_refused_in_rfc_shape_and_changes_nothing(
    api_client, oauth_client, case, kind, status, error
) -> None:
    application, secret = oauth_client
    good = _good(application, secret)
    headers: dict[str, str] = {}
    body: Any = good
    content_type = FORM
    if kind == "json":
        content_type, body = "application/json", '{"grant_type": "client_credentials"}'
    elif kind == "dup":
        body = urlencode(good) + "&grant_type=client_credentials"
    elif kind == "big":
        body = {**good, "scope": "r" * 20_000}
    elif kind == "nul":
        body = {**good, "scope": "read\x00"}
    elif kind == "latin":
        body = urlencode(good).encode() + b"&scope=\xe9"
    elif kind == "many":
        body = urlencode(good) + "".join(f"&x{i}=1" for i in range(40))
    elif kind == "badbasic":
        body, headers = {"grant_type": "client_credentials"}, {"HTTP_AUTHORIZATION": "Basic %%%not-base64"}
    elif kind == "nocolon":
        body = {"grant_type": "client_credentials"}
        headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"justanid").decode()}
    elif kind == "wrongbasic":
        body, headers = (
            {"grant_type": "client_credentials"},
            {"HTTP_AUTHORIZATION": basic(str(application.pk), "x")},
        )
    elif kind == "twomethods":
        headers = {"HTTP_AUTHORIZATION": basic(str(application.pk), secret)}
    elif kind == "unknown":
        body = {**good, "client_id": str(uuid.uuid4())}
    elif kind == "notuuid":
        body = {**good, "client_id": "' OR 1=1--"}
    elif kind == "nogrant":
        body = {k: v for k, v in good.items() if k != "grant_type"}
    elif kind == "password":
        body = {**good, "grant_type": "password"}
    elif kind == "notenabled":
        oauth_client_configure(application=application, enabled_grants=["refresh_token"])
    elif kind == "disabled":
        from identity.services.applications import application_set_active

        application_set_active(application=application, active=False)
    elif kind == "scope":
        body = {**good, "scope": "admin"}
    elif kind == "asserttype":
        body = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:x",
            "client_assertion": "a.b.c",
        }
    elif kind == "assertion":
        body = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        }
    elif kind == "badrefresh":
        body = {**good, "grant_type": "refresh_token", "refresh_token": "garbage"}
    elif kind == "empty":
        body = ""
    elif kind == "multipart":
        content_type, body = "multipart/form-data; boundary=x", "--x\r\n" + urlencode(good) + "\r\n--x--"
    elif kind == "nulname":
        body = urlencode(good) + "&sc%00ope=read"
    elif kind == "dupid":
        body = urlencode(good) + "&client_id=" + str(application.pk)
    elif kind == "otherid":
        body = {"grant_type": "client_credentials", "client_id": str(uuid.UUID(int=1))}
        headers = {"HTTP_AUTHORIZATION": basic(str(application.pk), secret)}
    elif kind == "nulbasic":
        body = {"grant_type": "client_credentials"}
        raw = f"{application.pk}:{secret}\x00".encode()
        headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}
    elif kind == "bigbasic":
        body, headers = {"grant_type": "client_credentials"}, {"HTTP_AUTHORIZATION": basic("a" * 20_000, "b")}
    elif kind == "noidbasic":
        body, headers = {"grant_type": "client_credentials"}, {"HTTP_AUTHORIZATION": basic("", secret)}
    elif kind == "bigsecret":
        body = {**good, "client_secret": secret * 20}
    elif kind == "unknownbasic":
        body = {"grant_type": "client_credentials"}
        headers = {"HTTP_AUTHORIZATION": basic(str(uuid.UUID(int=2)), secret)}
    elif kind == "bearer":
        body, headers = {"grant_type": "client_credentials"}, {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    elif kind in ("upperid", "bracedid", "urnid", "hexid"):
        spelling = {
            "upperid": str(application.pk).upper(),
            "bracedid": "{" + str(application.pk) + "}",
            "urnid": application.pk.urn,
            "hexid": application.pk.hex,
        }[kind]
        body = {**good, "client_id": spelling}
    elif kind == "upperbasic":
        body = {"grant_type": "client_credentials"}
        headers = {"HTTP_AUTHORIZATION": basic(str(application.pk).upper(), secret)}
    before = full_state()
    encoded = body if isinstance(body, str | bytes) else urlencode(body)
    response = api_client.generic("POST", "/oauth2/token", encoded, content_type=content_type, **headers)
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert set(response.json()) == {"error", "error_description"}
    assert b"Traceback" not in response.content
    assert_no_store(response)
    if kind in BASIC_CHALLENGED:
        assert response["WWW-Authenticate"].startswith("Basic realm=")
    else:
        assert "WWW-Authenticate" not in response
    assert full_state() == before


@pytest.mark.parametrize("path", [*TOKEN_PATHS, "/oauth2/introspect", "/oauth2/revoke"])
def test_get_is_refused_in_rfc_shape(api_client, world, path) -> None:
    before = full_state()
    response = api_client.get(path)
    assert response.status_code == 405
    assert set(response.json()) == {"error", "error_description"}
    assert response.json()["error"] == "invalid_request"
    assert_no_store(response)
    assert full_state() == before


@pytest.mark.parametrize(
    ("path", "missing"),
    [("/oauth2/token", "grant_type"), ("/connect/token", "grant_type"), ("/oauth2/revoke", "token")],
)
def test_a_post_without_a_body_names_the_missing_parameter(api_client, oauth_client, path, missing) -> None:
    application, secret = oauth_client
    before = full_state()
    response = api_client.generic("POST", path, "", HTTP_AUTHORIZATION=basic(str(application.pk), secret))
    assert response.status_code == 400, response.content
    assert response.json() == {"error": "invalid_request", "error_description": f"{missing} is required."}
    assert full_state() == before


@pytest.mark.parametrize("path", [*TOKEN_PATHS, "/oauth2/introspect", "/oauth2/revoke"])
def test_options_names_the_methods_and_nothing_else(api_client, world, path) -> None:
    """Not DRF's description of the view (its docstring), and not cacheable."""
    before = full_state()
    response = api_client.options(path)
    assert response.status_code == 204 and response.content == b""
    assert set(response["Allow"].replace(" ", "").split(",")) == {"POST", "OPTIONS"}
    assert_no_store(response)
    assert full_state() == before


def test_throttle_answers_429_with_retry_after(api_client, oauth_client) -> None:
    application, secret = oauth_client
    oauth_client_configure(application=application, token_requests_per_minute=2)
    codes = [
        form_post(api_client, "/connect/token", _good(application, secret)).status_code for _ in range(3)
    ]
    if codes == [200, 200, 200]:  # the minute turned over between requests: once more
        codes = [
            form_post(api_client, "/connect/token", _good(application, secret)).status_code for _ in range(3)
        ]
    assert 429 in codes
    before = full_state()
    response = form_post(api_client, "/connect/token", _good(application, secret))
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"] == "slow_down"
    assert set(response.json()) == {"error", "error_description"}
    assert_no_store(response)
    assert full_state() == before
    other = ApplicationFactory(tenant=application.tenant, name="Other client")
    other_secret = oauth_client_configure(application=other).client_secret
    assert form_post(api_client, "/connect/token", _good(other, other_secret)).status_code == 200


@pytest.fixture
def key_client(world) -> tuple[Any, ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = signing_key_import(tenant=world.tenant, name="client key", algorithm="ES256", public_key=public_pem)
    oauth_client_configure(
        application=world.application, client_authentication_methods=["private_key_jwt"], assertion_keys=[key]
    )
    return world.application, private, key.kid


def assertion(application, private, kid: str, **overrides: Any) -> str:  # type: ignore[no-untyped-def]
    now = int(time.time())
    claims = {
        "iss": str(application.pk),
        "sub": str(application.pk),
        "aud": "http://testserver/oauth2/token",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
        **overrides,
    }
    return jwt.encode(claims, private, algorithm="ES256", headers={"kid": kid})


def assertion_form(value: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": value,
    }


def test_private_key_jwt_and_replay(api_client, key_client) -> None:
    application, private, kid = key_client
    value = assertion(application, private, kid)
    first = form_post(api_client, "/oauth2/token", assertion_form(value))
    assert first.status_code == 200, first.content
    replay = form_post(api_client, "/oauth2/token", assertion_form(value))
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    issuer_aud = assertion(application, private, kid, aud=application.tenant.issuer)
    assert form_post(api_client, "/connect/token", assertion_form(issuer_aud)).status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://elsewhere.example.com/token"},
        {"exp": int(time.time()) + 3600},
        {"exp": int(time.time()) - 60},
        {"sub": str(uuid.uuid4())},
        {"iss": "someone"},
        {"jti": None},
    ],
)
def test_bad_assertions_are_invalid_client_and_record_nothing(api_client, key_client, overrides) -> None:
    application, private, kid = key_client
    claims = {k: v for k, v in overrides.items() if v is not None}
    value = assertion(application, private, kid, **claims)
    if overrides.get("jti", "") is None:
        value = jwt.encode(
            {k: v for k, v in jwt.decode(value, options={"verify_signature": False}).items() if k != "jti"},
            private,
            algorithm="ES256",
            headers={"kid": kid},
        )
    before = full_state()
    response = form_post(api_client, "/oauth2/token", assertion_form(value))
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "invalid_client"
    assert full_state() == before


def test_assertion_signed_by_another_key_or_hs_confusion_fails(api_client, key_client) -> None:
    application, _, kid = key_client
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = assertion(application, stranger, kid)
    assert form_post(api_client, "/oauth2/token", assertion_form(forged)).status_code == 401
    hs = jwt.encode(
        {"iss": str(application.pk), "sub": str(application.pk), "aud": "http://testserver/oauth2/token",
         "exp": int(time.time()) + 60, "jti": "x"},
        "a" * 64,
        algorithm="HS256",
        headers={"kid": kid},
    )  # fmt: skip
    assert form_post(api_client, "/oauth2/token", assertion_form(hs)).status_code == 401


def test_inline_jwks_verifies_assertions(api_client, world) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    oauth_client_configure(
        application=world.application,
        client_authentication_methods=["private_key_jwt"],
        jwks={"keys": [{**jwk, "alg": "ES256", "kid": "inline-1"}]},
    )
    value = assertion(world.application, private, "inline-1")
    response = form_post(api_client, "/oauth2/token", assertion_form(value))
    assert response.status_code == 200, response.content


def test_a_client_credentials_grant_costs_one_sql_statement(api_client, oauth_client) -> None:
    """Issue 16's query budget: the client, its application and tenant in one SELECT; the secret
    check, the throttle (cache) and the signature need none."""
    application, secret = oauth_client
    assert (
        form_post(api_client, "/connect/token", _good(application, secret)).status_code == 200
    )  # keys loaded
    grants = 5
    with CaptureQueriesContext(connection) as queries:
        for number in range(grants):
            headers = {"HTTP_AUTHORIZATION": basic(str(application.pk), secret)} if number % 2 else {}
            body = {"grant_type": "client_credentials"} if number % 2 else _good(application, secret)
            assert form_post(api_client, "/oauth2/token", body, **headers).status_code == 200
    assert 0 < len(queries) <= grants, [q["sql"] for q in queries]
