"""`path_requirements` and `token_kinds` in process (key-store source, GET /demo/api/hello): OAuth
client tokens from /oauth2/token are accepted where configured and refused (403) where a path needs
a user, a role or a scope they lack; a user token lacking a role or scope is refused the same way.
The standalone resource server does the same end to end: tests/resource_server/."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from identity.middleware_config import ConfigError, config_parse, speaks_for_a_user
from identity.services.access_tokens import AuthenticationType, access_token_issue
from identity.services.oauth_clients import oauth_client_configure
from tests.conftest import World

pytestmark = pytest.mark.django_db
HELLO = "/demo/api/hello"


@pytest.fixture
def client_token(client: Client, world: World) -> str:
    """An access token of the world's application as an OAuth client (client_credentials)."""
    secret = oauth_client_configure(application=world.application, scopes=["reports", "jobs"]).client_secret
    form = {"grant_type": "client_credentials", "client_id": str(world.application.pk),
            "client_secret": secret, "scope": "reports"}  # fmt: skip
    answer = client.post("/oauth2/token", urlencode(form), content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200, answer.content
    return str(answer.json()["access_token"])


def _user_token(world: World, roles: list[str], scope: str | None = None) -> str:
    now = datetime.now(UTC)
    return access_token_issue(
        user=world.user, tenant=world.tenant, application=world.application, roles=roles,
        authentication_type=AuthenticationType.PASSWORD, now=now, expires_at=now + timedelta(minutes=5),
        **({"extra_claims": {"scope": scope}} if scope else {}),
    ).value  # fmt: skip


def _configure(settings: Any, **fields: Any) -> None:
    settings.IDENTITY_TOKEN_AUTHORIZATION = {**settings.IDENTITY_TOKEN_AUTHORIZATION, **fields}


def _get(client: Client, token: str, path: str = HELLO) -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_client_tokens_are_refused_unless_their_kind_is_accepted(
    client: Client, world: World, client_token: str, settings
) -> None:
    refused = _get(client, client_token)
    assert refused.status_code == 401 and "trusted key" in refused.json()["errorMessage"]
    _configure(settings, token_kinds=["access", "client"])
    accepted = Client().get(HELLO, headers={"Authorization": f"Bearer {client_token}"})
    assert accepted.status_code == 200 and accepted.json()["sub"] == str(world.application.pk)


@pytest.mark.parametrize(
    ("requirement", "client_answer", "user_answer", "message"),
    [
        ({"user": True}, 403, 200, "needs a user's token"),
        ({"roles": ["admin", "auditor"]}, 403, 403, "needs one of the roles: admin, auditor"),
        ({"roles": ["user"]}, 403, 200, "needs a user's token"),
        ({"scopes": ["reports"]}, 200, 403, "needs the scopes: reports"),
        ({"scopes": ["reports", "jobs"]}, 403, 403, "needs the scopes: jobs reports"),
    ],
)
def test_path_requirements(
    world: World, client_token: str, settings, requirement: dict[str, Any], client_answer: int,
    user_answer: int, message: str,
) -> None:  # fmt: skip
    _configure(settings, token_kinds=["access", "client"],
               path_requirements=[{"paths": ["/demo/api/hello"], **requirement}])  # fmt: skip
    client = Client()
    for token, expected in ((client_token, client_answer), (_user_token(world, ["user"]), user_answer)):
        answer = _get(client, token)
        assert answer.status_code == expected, (token, answer.content)
        if expected == 403:
            assert answer.json()["errorMessage"].startswith("This path")
            assert answer["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    refused = [_get(client, t) for t in (client_token, _user_token(world, ["user"]))]
    assert any(message in r.json().get("errorMessage", "") for r in refused if r.status_code == 403)


@pytest.mark.parametrize(
    "path",
    [
        "/DEMO/API/HELLO",
        "/demo/api/hello/",
        "/demo//api/hello",
        "/demo%2Fapi%2Fhello",
        "/x/../demo/api/hello",
    ],
)
def test_no_spelling_escapes_a_requirement(world: World, client_token: str, settings, path: str) -> None:
    _configure(settings, token_kinds=["access", "client"], exclude_paths=["/demo/api/hello"],
               path_requirements=[{"paths": ["/demo/api/hello"], "user": True}])  # fmt: skip
    answer = _get(Client(), client_token, path)
    assert answer.status_code == 403, (path, answer.status_code)  # the exclusion does not lift it


def test_a_client_token_is_never_refreshed_into_a_user_token(
    world: World, client_token: str, settings
) -> None:
    _configure(settings, token_kinds=["access", "client"], refresh_interval_ms=1000, expiration_ms=60_000)
    time.sleep(1.1)
    answer = _get(Client(), client_token)
    assert answer.status_code == 200 and "Authorization" not in answer
    old_user_token = access_token_issue(
        user=world.user, tenant=world.tenant, application=world.application, roles=["user"],
        authentication_type=AuthenticationType.PASSWORD, now=datetime.now(UTC) - timedelta(seconds=5),
    ).value  # fmt: skip
    assert _get(Client(), old_user_token)["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize(
    ("claims", "user"),
    [
        ({"sub": "u1"}, True),
        ({"sub": "c1", "client_id": "c1"}, False),
        ({"sub": "c1", "gty": "client_credentials"}, False),
        ({"sub": ""}, False),
        ({}, False),
        ({"sub": 5}, False),
    ],
)
def test_who_a_token_speaks_for(claims: dict[str, Any], user: bool) -> None:
    assert speaks_for_a_user(claims) is user


HMAC = {"key_source": "hmac", "hmac_secret": "s" * 32}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path_requirements": {"paths": ["/x"]}}, "path_requirements must be a list"),
        ({"path_requirements": ["/x"]}, r"path_requirements\[0\] must be a dict"),
        ({"path_requirements": [{"paths": ["/x"]}]}, "requires nothing"),
        ({"path_requirements": [{"user": True}]}, "needs paths"),
        ({"path_requirements": [{"paths": [], "user": True}]}, "needs paths"),
        ({"path_requirements": [{"paths": ["x"], "user": True}]}, r"path_requirements\[0\]\.paths"),
        ({"path_requirements": [{"paths": ["/x"], "user": "yes"}]}, "user must be true or false"),
        ({"path_requirements": [{"paths": ["/x"], "roles": "admin"}]}, "roles must be a non-empty list"),
        ({"path_requirements": [{"paths": ["/x"], "roles": []}]}, "roles must be a non-empty list"),
        ({"path_requirements": [{"paths": ["/x"], "scopes": ["a b"]}]}, "scopes must be a non-empty list"),
        ({"path_requirements": [{"paths": ["/x"], "role": ["a"]}]}, "unknown field"),
        ({"token_kinds": ["access", "id"]}, "token_kinds must be"),
        ({"token_kinds": []}, "token_kinds must be"),
        ({"token_kinds": "access"}, "token_kinds must be"),
        ({"key_source": "key_store", "token_kinds": None}, "not key_store"),
    ],
)
def test_bad_requirements_fail_the_system_check(settings, change: dict[str, Any], message: str) -> None:
    from django.core.checks import run_checks

    raw = {**HMAC, **change}
    with pytest.raises(ConfigError, match=message):
        config_parse(raw)
    settings.IDENTITY_TOKEN_AUTHORIZATION = raw
    problems = [m for m in run_checks() if m.id == "identity.E010"]
    assert len(problems) == 1, problems


def test_requirements_protect_paths_outside_protected_paths() -> None:
    config = config_parse({**HMAC, "protected_paths": ["/api/**"],
                           "path_requirements": [{"paths": ["/admin/**"], "roles": ["admin"]}]})  # fmt: skip
    decision = config.rules.decide("/Admin/x")
    assert decision.protected and [sorted(r.roles) for r in decision.requirements] == [["admin"]]
    assert config.rules.decide("/api/x").requirements == ()
    assert not config.rules.decide("/public").protected
    assert json.loads(config.error_body("x"))["errorMessage"] == "x"
