"""The OAuth2 token endpoint against gunicorn (two workers), driven by stock client libraries:
requests-oauthlib's BackendApplicationClient (seed 002: fetch, use, notice expiry, fetch again),
the FusionAuth SDK's client_credentials_grant, a PyJWT-built private_key_jwt assertion, and
revocation seen by every worker within a second."""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fusionauth.fusionauth_client import FusionAuthClient
from oauthlib.oauth2 import BackendApplicationClient, TokenExpiredError
from requests_oauthlib import OAuth2Session

from identity.models import OAuthAssertionJti
from identity.services.applications import application_update
from identity.services.oauth_clients import oauth_client_configure
from identity.services.personal_access_tokens import pat_create, pat_revoke
from identity.services.signing_keys import signing_key_import
from tests.live import LiveServer
from tests.live_server.test_revocation_coherence import loaded_by

pytestmark = pytest.mark.django_db(transaction=True)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TTL_SECONDS = 2


@pytest.fixture
def client_app(world) -> tuple[Any, str]:
    application_update(application=world.application, jwt_enabled=True, access_token_ttl_seconds=TTL_SECONDS)
    configured = oauth_client_configure(application=world.application, scopes=["read"])
    assert configured.client_secret is not None
    return world.application, configured.client_secret


@pytest.fixture
def server(gunicorn) -> LiveServer:
    # No leeway, so a token is refused as soon as it expires.
    return gunicorn(workers=2, env={"IDENTITY_JWT_LEEWAY_SECONDS": "0"})


def validate(server: LiveServer, token: str) -> int:
    return server.request("GET", "/api/jwt/validate", headers={"Authorization": f"Bearer {token}"}).status


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode(), **FORM}


def test_requests_oauthlib_fetch_use_expire_refetch(server, client_app, monkeypatch) -> None:
    """For each token path and each way of sending the secret (form body, HTTP Basic): fetch, use,
    notice the expiry, fetch again. One server and one wait for all four sessions (each was a test
    of its own, each starting a server and waiting out the lifetime)."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # loopback HTTP in the test only
    application, secret = client_app
    client_id = str(application.pk)
    ways = list(itertools.product(("/connect/token", "/oauth2/token"), ("body", "basic")))
    sessions = {way: OAuth2Session(client=BackendApplicationClient(client_id=client_id)) for way in ways}

    def fetch(way: tuple[str, str]) -> dict[str, Any]:
        path, secret_in = way
        if secret_in == "body":
            return dict(
                sessions[way].fetch_token(
                    server.url + path, client_id=client_id, client_secret=secret, include_client_id=True
                )
            )
        return dict(
            sessions[way].fetch_token(server.url + path, auth=requests.auth.HTTPBasicAuth(client_id, secret))
        )

    tokens: dict[tuple[str, str], dict[str, Any]] = {}
    for way in ways:
        tokens[way] = fetch(way)
        assert tokens[way]["token_type"] == "Bearer" and tokens[way]["expires_in"] == TTL_SECONDS, way
        assert sessions[way].get(server.url + "/api/jwt/validate").status_code == 200, way
    time.sleep(TTL_SECONDS + 1)  # after the last fetch: every token has expired
    for way in ways:
        assert validate(server, tokens[way]["access_token"]) == 401, way
        with pytest.raises(TokenExpiredError):
            sessions[way].get(server.url + "/api/jwt/validate")
        fresh = fetch(way)
        assert fresh["access_token"] != tokens[way]["access_token"], way
        assert sessions[way].get(server.url + "/api/jwt/validate").status_code == 200, way


def test_fusionauth_sdk_client_credentials_grant(server, client_app, world) -> None:
    application, secret = client_app
    sdk = FusionAuthClient("", server.url)
    sdk.set_tenant_id(str(world.tenant.pk))
    response = sdk.client_credentials_grant(client_id=str(application.pk), client_secret=secret, scope="read")
    assert response.was_successful(), (response.status, response.error_response, server.log_tail())
    assert response.success_response["scope"] == "read"
    assert validate(server, response.success_response["access_token"]) == 200
    wrong = sdk.client_credentials_grant(client_id=str(application.pk), client_secret="wrong")
    assert wrong.status == 401 and wrong.error_response.json()["error"] == "invalid_client"


def test_private_key_jwt_assertion_and_replay(server, world) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = signing_key_import(tenant=world.tenant, name="client key", algorithm="ES256", public_key=pem)
    oauth_client_configure(
        application=world.application, client_authentication_methods=["private_key_jwt"], assertion_keys=[key]
    )
    client_id = str(world.application.pk)
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": server.url + "/oauth2/token",
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
        },
        private,
        algorithm="ES256",
        headers={"kid": key.kid},
    )
    body = urlencode(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }
    )
    first = server.request("POST", "/oauth2/token", body=body, headers=FORM)
    assert first.status == 200, (first.body, server.log_tail())
    assert validate(server, first.json()["access_token"]) == 200
    for _ in range(4):  # whichever worker answers, the jti was used
        replay = server.request("POST", "/oauth2/token", body=body, headers=FORM)
        assert replay.status == 401 and replay.json()["error"] == "invalid_client"
    assert OAuthAssertionJti.objects.count() == 1


def test_revoked_access_token_is_refused_by_every_worker_within_a_second(server, client_app) -> None:
    application, secret = client_app
    application_update(application=application, access_token_ttl_seconds=3600)
    auth = basic(str(application.pk), secret)
    answer = server.request("POST", "/oauth2/token", body="grant_type=client_credentials", headers=auth)
    assert answer.status == 200, answer.body
    token = answer.json()["access_token"]
    deadline = time.monotonic() + 10
    while len(loaded_by(server)) < 2:  # both workers hold the revocation set before the revocation
        assert validate(server, token) == 200
        assert time.monotonic() < deadline, server.log_tail()
    revoked = server.request("POST", "/oauth2/revoke", body=urlencode({"token": token}), headers=auth)
    assert revoked.status == 200, revoked.body
    time.sleep(1.05)
    statuses = [validate(server, token) for _ in range(20)]
    assert statuses == [401] * 20, (statuses, server.log_tail())
    for _ in range(10):
        introspected = server.request(
            "POST", "/oauth2/introspect", body=urlencode({"token": token}), headers=auth
        )
        assert (introspected.status, json.loads(introspected.body)) == (200, {"active": False})


def test_token_exchange_of_a_pat_with_plain_requests(server, world) -> None:
    """RFC 8693 at the seed's path: a PAT exchanged by a client for a short-lived access token
    that validate accepts; once the PAT is revoked, its exchange is invalid_request (RFC 8693 §2.2.2)."""
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    secret = oauth_client_configure(application=world.application, enabled_grants=[exchange]).client_secret
    assert secret is not None
    created = pat_create(user=world.user, name="ci", expiry="30")
    form = {
        "grant_type": exchange,
        "subject_token": created.value,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    }
    auth = requests.auth.HTTPBasicAuth(str(world.application.pk), secret)
    answer = requests.post(server.url + "/connect/token", data=form, auth=auth, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 300
    assert validate(server, body["access_token"]) == 200
    pat_revoke(token=created.token, by="test")
    deadline = time.monotonic() + 1.5
    while True:
        refused = requests.post(server.url + "/connect/token", data=form, auth=auth, timeout=10)
        if refused.status_code == 400 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
