"""The JWKS key source's fetch bounds, on a controlled clock (issue 13): fetched on first use, never
per request, an unknown kid refetches at most once per `jwks_refetch_interval_seconds` (60 by
default) however many arrive, failed fetches count and keep the keys held, and keys older than
`jwks_max_age_seconds` are fetched again once. The live version (a real identity server and
gunicorn): tests/resource_server/test_resource_server.py."""

from __future__ import annotations

import json
import types
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from identity import middleware_keys
from identity.middleware import Authorizer, Refused
from identity.middleware_config import config_parse

URL = "https://id.example/.well-known/jwks.json"


class Issuer:
    """A JWKS document that can publish more keys, and a count of the fetches it answered."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        self.failing = False
        self.publish("first")

    def publish(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def token(self, kid: str, *, signed_by: str | None = None) -> str:
        now = int(datetime.now(UTC).timestamp())
        claims = {"sub": "u1", "iss": "https://id.example", "aud": "app", "iat": now, "exp": now + 600}
        key = self.keys[signed_by or kid]
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "tkn": "access"})

    def urlopen(self, request: Any, timeout: float) -> Any:
        assert request.full_url == URL
        self.fetches += 1
        if self.failing:
            raise OSError("connection refused")
        public = [
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(k.public_key())), "kid": kid, "alg": "ES256"}
            for kid, k in self.keys.items()
        ]
        body = json.dumps({"keys": public}).encode()
        return _Answer(body)


class _Answer:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self, size: int) -> bytes:
        return self.body[:size]


@pytest.fixture
def setup(monkeypatch) -> tuple[Issuer, list[float], Authorizer]:
    issuer = Issuer()
    clock = [1000.0]
    monkeypatch.setattr(middleware_keys, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(middleware_keys.urllib.request, "urlopen", issuer.urlopen)
    config = config_parse(
        {
            "key_source": "jwks",
            "jwks_url": URL,
            "issuer": "https://id.example",
            "audience": "app",
            "cache_seconds": 0,  # every request goes to the key source: nothing hides a fetch
        }
    )
    return issuer, clock, Authorizer(config)


def _accepted(authorizer: Authorizer, token: str) -> bool:
    try:
        authorizer.authorize(token, now=datetime.now(UTC))
    except Refused:
        return False
    return True


def test_fetched_once_on_first_use_never_per_request(setup) -> None:
    issuer, clock, authorizer = setup
    assert issuer.fetches == 0  # nothing at start
    token = issuer.token("first")
    for step in range(100):
        clock[0] = 1000.0 + step * 30  # 50 minutes of requests, inside the hour's max age
        assert _accepted(authorizer, token)
    assert issuer.fetches == 1


def test_unknown_kids_refetch_at_most_once_a_minute(setup) -> None:
    issuer, clock, authorizer = setup
    assert _accepted(authorizer, issuer.token("first")) and issuer.fetches == 1
    rest = issuer.token("first").split(".", 1)[1]
    for n in range(200):  # a flood of garbage kids within the minute
        clock[0] = 1000.0 + n * 0.29
        garbage = jwt.utils.base64url_encode(
            json.dumps({"alg": "ES256", "kid": f"x{n}", "tkn": "access"}).encode()
        )
        assert not _accepted(authorizer, f"{garbage.decode()}.{rest}")
    assert issuer.fetches == 1
    clock[0] = 1060.0  # a minute after the last fetch: one unknown kid may ask again, once
    for n in range(50):
        assert not _accepted(authorizer, issuer.token(f"late{n}", signed_by="first"))
    assert issuer.fetches == 2


def test_a_key_published_later_is_fetched_within_the_interval(setup) -> None:
    issuer, clock, authorizer = setup
    assert _accepted(authorizer, issuer.token("first"))
    issuer.publish("second")
    clock[0] = 1030.0
    assert not _accepted(authorizer, issuer.token("second"))  # too soon after the first fetch
    assert issuer.fetches == 1
    clock[0] = 1060.0
    assert _accepted(authorizer, issuer.token("second"))
    assert _accepted(authorizer, issuer.token("first"))
    assert issuer.fetches == 2


def test_a_failed_fetch_counts_and_keeps_the_keys(setup) -> None:
    issuer, clock, authorizer = setup
    assert _accepted(authorizer, issuer.token("first"))
    issuer.failing = True
    issuer.publish("second")
    clock[0] = 1060.0
    assert not _accepted(authorizer, issuer.token("second"))
    assert issuer.fetches == 2
    for n in range(20):  # the failure is not retried per request either
        clock[0] = 1061.0 + n
        assert not _accepted(authorizer, issuer.token("second"))
        assert _accepted(authorizer, issuer.token("first"))  # the keys held still verify
    assert issuer.fetches == 2


def test_keys_older_than_the_max_age_are_fetched_again_once(setup) -> None:
    issuer, clock, authorizer = setup
    token = issuer.token("first")
    assert _accepted(authorizer, token)
    clock[0] = 1000.0 + 3600
    for _ in range(10):
        assert _accepted(authorizer, token)
    assert issuer.fetches == 2
