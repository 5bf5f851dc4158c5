"""`create_user --bot`, `create_access_token`, `revoke_access_token` (issue 12)."""

from __future__ import annotations

import io
import json
import shlex
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from identity.exceptions import TokenInvalid
from identity.models import PersonalAccessToken, RevokedToken, User
from identity.services import personal_access_tokens as pats
from identity.services.jwt import jwt_validate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_stamps(monkeypatch):
    monkeypatch.setattr(pats, "usage_stamper", lambda jti, now: None)


def run(command_line: str) -> str:
    out = io.StringIO()
    call_command(*shlex.split(command_line), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_json(command_line: str) -> dict[str, Any]:
    return json.loads(run(command_line + " --json"))


def state() -> list:
    return [
        User.objects.count(),
        sorted(PersonalAccessToken.objects.values_list("id", "revoked_at")),
        RevokedToken.objects.count(),
    ]


def test_create_a_bot_and_give_it_a_token(world):
    bot = run_json(f"create_user --tenant {world.tenant.pk} --email ci-bot@example.com --bot")
    assert bot["bot"] is True
    assert not User.objects.get(pk=bot["id"]).has_usable_password()
    created = run_json("create_access_token --user ci-bot@example.com --name ci --expiry 30")
    assert created["JWTTokenExpiry"] == "30" and created["userId"] == bot["id"]
    claims = jwt_validate(token=created["JWTToken"], now=timezone.now()).claims
    assert claims["jti"] == created["id"] and claims["bot"] is True
    assert claims["exp"] * 1000 == created["JWTTokenExpiresAt"]


def test_create_with_scopes_application_and_allowlist(world):
    created = run_json(
        f"create_access_token --user {world.user.pk} --name deploy --expiry Unlimited --scopes user "
        f"--application Portal --allow-ip 10.0.0.0/8 --allow-ip 192.0.2.1"
    )
    assert created["JWTTokenExpiresAt"] is None
    assert created["scopes"] == ["user"] and created["allowedIps"] == ["10.0.0.0/8", "192.0.2.1/32"]
    assert created["applicationId"] == str(world.application.pk)


def test_summary_shows_the_value_once(world):
    out = run(f"create_access_token --user {world.user.email} --name ci --expiry OneHour")
    assert "shown only this once" in out
    assert out.strip().splitlines()[-1].count(".") == 2


def test_revoke_by_id_by_name_and_all(world):
    first = run_json(f"create_access_token --user {world.user.pk} --name a --expiry 7")
    second = run_json(f"create_access_token --user {world.user.pk} --name b --expiry 7")
    third = run_json(f"create_access_token --user {world.user.pk} --name c --expiry 7")
    assert run_json(f"revoke_access_token --id {first['id']}")["revoked"] == [first["id"]]
    assert run_json(f"revoke_access_token --user {world.user.email} --name b")["revoked"] == [second["id"]]
    assert run_json(f"revoke_access_token --user {world.user.pk} --all")["count"] == 1
    for token in (first, second, third):
        with pytest.raises(TokenInvalid):
            jwt_validate(token=token["JWTToken"], now=timezone.now())
    assert PersonalAccessToken.objects.get(pk=first["id"]).revoked_by == "command line"


@pytest.mark.parametrize(
    ("command_line", "message"),
    [
        (
            "create_user --tenant {tenant} --email b@example.com --bot --password-env PW",
            "A bot has no password",
        ),
        (
            "create_user --tenant {tenant} --email b@example.com",
            "--password-stdin --password-env is required",
        ),
        (
            "create_access_token --user nobody@example.com --name ci --expiry 30",
            "No user has the id or email",
        ),
        ("create_access_token --user {user} --name ci --expiry 365", "invalid choice: '365'"),
        ("create_access_token --user {user} --name ci --expiry 30 --scopes admin", "do not grant: admin"),
        ("create_access_token --user {user} --name taken --expiry 30", "live token with this name"),
        ("create_access_token --user {user} --name ci --expiry 30 --allow-ip nope", "not an IP address"),
        ("revoke_access_token --id nope", "is not a token id"),
        ("revoke_access_token --id 00000000-0000-0000-0000-000000000000", "No access token has the id"),
        ("revoke_access_token --user {user}", "exactly one of --name and --all"),
        # --id with --user --all revoked the one token and silently ignored the rest of the request
        (
            "revoke_access_token --id 00000000-0000-0000-0000-000000000000 --user {user} --all",
            "Give --id, or",
        ),
        ("revoke_access_token --user {user} --name missing", "no live access token named 'missing'"),
    ],
)
def test_bad_input_is_a_one_line_error_and_changes_nothing(world, monkeypatch, command_line, message):
    monkeypatch.setenv("PW", "violet kettle 4 moonrise")
    run(f"create_access_token --user {world.user.pk} --name taken --expiry 30")
    before = state()
    with pytest.raises(CommandError) as raised:
        run(command_line.format(tenant=world.tenant.pk, user=world.user.pk))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert state() == before


def test_the_summary_counts_in_the_right_number(world):
    run_json(f"create_access_token --user {world.user.email} --name one --expiry OneHour")
    out = run(f"revoke_access_token --user {world.user.email} --all")
    assert out.strip() == f"Revoked 1 access token of {world.user.email}."
