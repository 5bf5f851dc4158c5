"""Personal access tokens against gunicorn with two workers (issue 12): every expiry's `exp`, the
revocation, user deactivation and the IP allowlist refused by every worker within a second,
revoked PATs still refused after a restart, bots refused at login, exchange, last use recorded."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from identity.models import TokenExpiry
from identity.services.users import user_create
from tests.live import LiveServer


def validate(server: LiveServer, token: str) -> int:
    return server.request("GET", "/api/jwt/validate", headers={"Authorization": f"Bearer {token}"}).status


def loaded_by(server: LiveServer) -> set[str]:
    """The worker processes that have built the revocation set (the key store logs each build)."""
    return set(re.findall(r"revoked-jtis store rebuilt .* in process (\d+)", server.log_tail(400)))


def warm(server: LiveServer, token: str) -> None:
    """Both workers hold the revocation set (and the keys) before anything is revoked."""
    deadline = time.monotonic() + 10
    while len(loaded_by(server)) < 2:
        assert validate(server, token) == 200
        assert time.monotonic() < deadline, server.log_tail()


def create(server: LiveServer, world: Any, body: dict, user_id: str | None = None) -> dict:
    answer = server.request(
        "POST",
        f"/api/user/{user_id or world.user.pk}/access-token",
        json_body=body,
        headers={"Authorization": world.api_key},
    )
    assert answer.status == 200, (answer.status, answer.body, server.log_tail())
    return answer.json()


# gunicorn's access log (into the server's log) names the worker that answered each request.
ACCESS_LOG = {"GUNICORN_CMD_ARGS": "--access-logfile=- --access-logformat='answered %(p)s %(s)s %(U)s'"}


def answers(server: LiveServer) -> list[tuple[str, str, str]]:
    """(worker pid, status, path) of every request answered so far, in order."""
    return re.findall(r"answered <(\d+)> (\d{3}) (\S+)", server.log.read_text(errors="replace"))


def refused_by_every_worker(server: LiveServer, token: str, world: Any, *, workers: int = 2) -> None:
    """Ask validate, the access-token authentication (the user's own PAT list) and introspection
    (RFC 7662, with the API key) until every worker has answered each of them at least twice:
    every answer refuses the PAT (401, or `{"active": false}`)."""
    listed = f"/api/user/{world.user.pk}/access-token"
    doors = ("/api/jwt/validate", listed, "/oauth2/introspect")
    start = len(answers(server))
    for _ in range(100):
        for door in doors[:2]:
            status = server.request("GET", door, headers={"Authorization": f"Bearer {token}"}).status
            assert status == 401, (door, status, server.log_tail())
        introspected = server.request(
            "POST",
            "/oauth2/introspect",
            body=urlencode({"token": token}),
            headers={"Authorization": world.api_key, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (introspected.status, introspected.json()) == (200, {"active": False}), introspected.body
        seen = [answer for answer in answers(server)[start:] if answer[2] in doors]
        pids = {pid for pid, _, _ in seen}
        if len(pids) >= workers and all(
            sum(1 for p, _, path in seen if (p, path) == (pid, door)) >= 2 for pid in pids for door in doors
        ):
            return
    raise AssertionError(f"not every worker answered: {answers(server)[start:]}")


@pytest.mark.django_db(transaction=True)
def test_a_revoked_pat_is_refused_by_every_worker_within_a_second_and_after_a_restart(
    gunicorn, world, node_env
):
    server = gunicorn(workers=2, env={**node_env, **ACCESS_LOG})
    created = create(server, world, {"name": "ci", "JWTTokenExpiry": "Unlimited"})
    token, record = created["JWTToken"], created["accessToken"]
    warm(server, token)
    path = f"/api/user/{world.user.pk}/access-token/{record['id']}"
    deadline = time.monotonic() + 10  # last use is written off the request path, within moments
    while (
        server.request("GET", path, headers={"Authorization": world.api_key}).json()["accessToken"][
            "lastUsedInstant"
        ]
        is None
    ):
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.1)
    introspected = server.request(
        "POST",
        "/oauth2/introspect",
        body=urlencode({"token": token}),
        headers={"Authorization": world.api_key, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert introspected.json()["active"] is True, introspected.body
    revoked = server.request("DELETE", path, headers={"Authorization": world.api_key})
    assert revoked.status == 200, revoked.body
    time.sleep(1.05)
    refused_by_every_worker(server, token, world)

    restarted = gunicorn(workers=1, env={**node_env, **ACCESS_LOG})
    refused_by_every_worker(restarted, token, world, workers=1)


@pytest.mark.django_db(transaction=True)
def test_deactivating_the_user_ends_their_pats_on_every_worker(gunicorn, world):
    server = gunicorn(workers=2, env=ACCESS_LOG)
    tokens = [
        create(server, world, {"name": f"t{i}", "JWTTokenExpiry": expiry})["JWTToken"]
        for i, expiry in enumerate(("30", "Unlimited"))
    ]
    warm(server, tokens[0])
    answer = server.request("DELETE", f"/api/user/{world.user.pk}", headers={"Authorization": world.api_key})
    assert answer.status == 200
    time.sleep(1.05)
    for token in tokens:
        refused_by_every_worker(server, token, world)

    restarted = gunicorn(workers=1, env=ACCESS_LOG)
    for token in tokens:
        refused_by_every_worker(restarted, token, world, workers=1)


@pytest.mark.django_db(transaction=True)
def test_an_address_outside_the_allowlist_is_refused_by_every_worker(gunicorn, world):
    """The allowlist is in the signed token: no worker needs to learn anything to refuse."""
    server = gunicorn(workers=2, env=ACCESS_LOG)
    elsewhere = create(server, world, {"name": "lan", "JWTTokenExpiry": "30", "allowedIps": ["10.0.0.0/8"]})
    here = create(server, world, {"name": "here", "JWTTokenExpiry": "30", "allowedIps": ["127.0.0.0/8"]})
    refused_by_every_worker(server, elsewhere["JWTToken"], world)
    assert [validate(server, here["JWTToken"]) for _ in range(10)] == [200] * 10


@pytest.mark.django_db(transaction=True)
def test_expiries_allowlist_exchange_and_bots(gunicorn, world):
    server = gunicorn(workers=2)
    for expiry in TokenExpiry.values:
        created = create(server, world, {"name": f"exp {expiry}", "JWTTokenExpiry": expiry})
        answer = server.request(
            "GET", "/api/jwt/validate", headers={"Authorization": f"Bearer {created['JWTToken']}"}
        )
        assert answer.status == 200
        jwt = answer.json()["jwt"]
        expires_at = created["accessToken"]["JWTTokenExpiresAt"]
        assert jwt.get("exp") == (None if expires_at is None else expires_at // 1000), expiry

    elsewhere = create(server, world, {"name": "lan", "JWTTokenExpiry": "30", "allowedIps": ["10.0.0.0/8"]})
    here = create(server, world, {"name": "here", "JWTTokenExpiry": "30", "allowedIps": ["127.0.0.1"]})
    exchanged = server.request(
        "POST",
        "/api/jwt/exchange",
        body=urlencode({"subject_token": elsewhere["JWTToken"], "subject_token_type": JWT}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert exchanged.status == 401

    exchanged = server.request(
        "POST",
        "/api/jwt/exchange",
        body=urlencode({"subject_token": here["JWTToken"], "subject_token_type": JWT}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert exchanged.status == 200, exchanged.body
    assert exchanged.json()["expires_in"] == 300
    assert validate(server, exchanged.json()["access_token"]) == 200

    bot = user_create(tenant=world.tenant, email="ci-bot@example.com", password=None, is_bot=True)
    login = server.request(
        "POST",
        "/api/login",
        json_body={"loginId": bot.email, "password": "anything", "applicationId": str(world.application.pk)},
        headers={"Authorization": world.api_key},
    )
    assert login.status == 404 and login.body == b""
    bot_token = create(server, world, {"name": "ci", "JWTTokenExpiry": "1"}, str(bot.pk))["JWTToken"]
    assert validate(server, bot_token) == 200


JWT = "urn:ietf:params:oauth:token-type:jwt"


def tenant_kids(server: LiveServer, world: Any) -> set[str]:
    answer = server.request("GET", f"/{world.tenant.pk}/.well-known/jwks.json")
    assert answer.status == 200
    return {key["kid"] for key in answer.json()["keys"]}


@pytest.mark.django_db(transaction=True)
def test_a_rotated_out_key_verifies_live_pats_until_the_last_is_revoked(gunicorn, world):
    """Rotation retires the old key after the access tokens it made; the PATs it signed keep it
    trusted and published on every worker until the last of them is revoked."""
    from datetime import timedelta

    from django.utils import timezone

    from identity.services.signing_keys import signing_key_rotate

    server = gunicorn(workers=2)
    tokens = [
        create(server, world, {"name": name, "JWTTokenExpiry": expiry})
        for name, expiry in (("forever", "Unlimited"), ("quarter", "90"))
    ]
    warm(server, tokens[0]["JWTToken"])
    old_kid = world.tenant.access_token_signing_key.kid
    signing_key_rotate(
        tenant=world.tenant,
        algorithm="ES256",
        name="next",
        verify_until=timezone.now() + timedelta(seconds=1),
    )
    time.sleep(1.5)  # past the old key's own retirement, and the one-second coherence
    for created in tokens:
        assert [validate(server, created["JWTToken"]) for _ in range(10)] == [200] * 10, server.log_tail()
    assert all(old_kid in tenant_kids(server, world) for _ in range(10))

    for created in tokens:
        path = f"/api/user/{world.user.pk}/access-token/{created['accessToken']['id']}"
        assert server.request("DELETE", path, headers={"Authorization": world.api_key}).status == 200
    time.sleep(1.05)
    assert not any(old_kid in tenant_kids(server, world) for _ in range(10)), server.log_tail()
