"""The Authorizer's cache of verified tokens: a hit skips the signature check, and nothing it
holds outlives the token's exp, a key change, or `cache_seconds`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from identity.middleware import Authorizer, Refused
from identity.middleware_config import config_parse
from identity.services.access_tokens import AuthenticationType, access_token_issue
from identity.services.signing_keys import signing_key_generate, tenant_signing_key_set
from tests.conftest import World

SECRET = "a shared secret of at least thirty-two bytes!"
NOW = datetime.now(UTC)


def _hmac_token(**claims: Any) -> str:
    base = {"sub": "u", "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 120}
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


def _counting(authorizer: Authorizer) -> list[int]:
    calls = [0]
    verify = authorizer.source.verify

    def counted(**kwargs: Any) -> Any:
        calls[0] += 1
        return verify(**kwargs)

    authorizer.source.verify = counted  # type: ignore[method-assign]
    return calls


def test_a_hit_skips_verification_and_a_changed_byte_misses() -> None:
    authorizer = Authorizer(config_parse({"key_source": "hmac", "hmac_secret": SECRET}))
    calls = _counting(authorizer)
    token = _hmac_token()
    for _ in range(3):
        assert authorizer.authorize(token, now=NOW).claims["sub"] == "u"
    assert calls[0] == 1
    with pytest.raises(Refused):
        authorizer.authorize(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), now=NOW)
    assert calls[0] == 2


def test_nothing_is_used_past_exp_or_cache_seconds() -> None:
    authorizer = Authorizer(config_parse({"key_source": "hmac", "hmac_secret": SECRET, "cache_seconds": 30}))
    calls = _counting(authorizer)
    token = _hmac_token()
    authorizer.authorize(token, now=NOW)
    authorizer.authorize(token, now=NOW + timedelta(seconds=29))
    assert calls[0] == 1
    authorizer.authorize(token, now=NOW + timedelta(seconds=31))  # past cache_seconds: verified again
    assert calls[0] == 2
    with pytest.raises(Refused, match="expired"):
        authorizer.authorize(token, now=NOW + timedelta(seconds=200))  # past exp (and the leeway)


def test_cache_seconds_zero_turns_it_off() -> None:
    authorizer = Authorizer(config_parse({"key_source": "hmac", "hmac_secret": SECRET, "cache_seconds": 0}))
    calls = _counting(authorizer)
    token = _hmac_token()
    authorizer.authorize(token, now=NOW)
    authorizer.authorize(token, now=NOW)
    assert calls[0] == 2


@pytest.mark.django_db
def test_a_key_store_change_invalidates_cached_tokens(world: World) -> None:
    authorizer = Authorizer(config_parse({"key_source": "key_store"}))
    calls = _counting(authorizer)
    now = datetime.now(UTC)
    token = access_token_issue(
        user=world.user, tenant=world.tenant, application=world.application, roles=[],
        authentication_type=AuthenticationType.PASSWORD, now=now,
    ).value  # fmt: skip
    authorizer.authorize(token, now=now)
    authorizer.authorize(token, now=now)
    assert calls[0] == 1
    # The tenant's signer changes: a new key-store snapshot, so the cached answer is not used (the
    # token is verified again: the old signer stays trusted until it retires, so it still passes).
    tenant_signing_key_set(
        tenant=world.tenant, key=signing_key_generate(tenant=world.tenant, algorithm="ES256", name="n").key
    )
    authorizer.authorize(token, now=now)
    assert calls[0] == 2


@pytest.mark.django_db
def test_a_revoked_token_is_refused_at_once_despite_the_cache(world: World) -> None:
    from identity.services.revocations import token_revoke

    authorizer = Authorizer(config_parse({"key_source": "key_store"}))
    now = datetime.now(UTC)
    issued = access_token_issue(
        user=world.user, tenant=world.tenant, application=world.application, roles=[],
        authentication_type=AuthenticationType.PASSWORD, now=now,
    )  # fmt: skip
    authorizer.authorize(issued.value, now=now)
    token_revoke(jti=issued.claims["jti"], tenant=world.tenant, kind="access", expires_at=issued.expires_at)
    with pytest.raises(Refused):
        authorizer.authorize(issued.value, now=now)
