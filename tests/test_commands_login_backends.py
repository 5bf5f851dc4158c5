"""`create_login_backend`, `list_login_backends`, `delete_login_backend`: the same service and
validators as the API and the admin; a refusal is one line naming the option and changes nothing."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from identity.models import AuditEntry, LoginBackend
from identity.services.login_backends import login_backend_create
from tests.api.helpers import db_state

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_list_delete(world, client) -> None:
    app = str(world.application.pk)
    created = json.loads(
        run(
            "create_login_backend",
            "--application",
            app,
            "--name",
            "web",
            "--transport",
            "cookie",
            "--lifetime-seconds",
            "900",
            "--cookie-samesite",
            "strict",
            "--json",
        )
    )["loginBackend"]
    assert (created["name"], created["transport"], created["lifetimeSeconds"]) == ("web", "cookie", 900)
    assert created["cookieSecure"] is True and created["cookieSameSite"] == "strict"
    login = client.post("/auth/web/login", {"username": "ann@example.com", "password": world.password})
    assert login.status_code == 204

    by_name = run("create_login_backend", "--application", "Portal", "--tenant", str(world.tenant.pk))
    assert "Created login backend jwt (bearer, 3600 s)" in by_name and "/auth/jwt/login" in by_name

    listed = json.loads(run("list_login_backends", "--application", app, "--json"))["loginBackends"]
    assert [b["name"] for b in listed] == ["jwt", "web"]
    assert "web\tcookie\t900s\tPortal" in run("list_login_backends")

    deleted = json.loads(run("delete_login_backend", "web", "--json"))["deleted"]
    assert deleted["name"] == "web" and deleted["id"] == created["id"]
    assert run("delete_login_backend", str(LoginBackend.objects.get().pk)) == "Deleted login backend jwt.\n"
    assert not LoginBackend.objects.exists()
    assert run("list_login_backends") == "No login backends.\n"
    actions = list(
        AuditEntry.objects.filter(action__startswith="login_backend.").values_list("action", "actor_kind")
    )
    assert sorted(actions) == sorted(
        [("login_backend.create", "command")] * 2 + [("login_backend.delete", "command")] * 2
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "two words"], "--name: A name of letters"),
        (["--name", "café"], "--name: A name of letters"),
        (["--name", "taken"], "--name: Another login backend has this name."),
        (["--lifetime-seconds", "0"], "--lifetime-seconds: Must be a whole number"),
        (["--lifetime-seconds", "99999999999"], "--lifetime-seconds: Must be a whole number"),
        (["--lifetime-seconds", "ten"], "invalid int value"),
        (["--transport", "pigeon"], "invalid choice"),
        (["--cookie-samesite", "none", "--cookie-insecure"], "--cookie-samesite: SameSite=None needs"),
        (["--cookie-name", "a;b"], "--cookie-name: Letters"),
        (["--cookie-path", "/a;Domain=x"], "--cookie-path: A path"),
        (["--cookie-domain", "a b"], "--cookie-domain: A host name"),
    ],
)
def test_refusals_are_one_line_and_change_nothing(world, args: list[str], message: str) -> None:
    login_backend_create(application=world.application, name="taken")
    before = db_state()
    with pytest.raises(CommandError) as caught:
        run("create_login_backend", "--application", str(world.application.pk), *args)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert db_state() == before


@pytest.mark.parametrize("value", ["nope", "jwt\x00", "00000000-0000-0000-0000-000000000000", "a" * 300, ""])
def test_deleting_what_does_not_exist_changes_nothing(world, value: str) -> None:
    login_backend_create(application=world.application, name="jwt")
    before = db_state()
    with pytest.raises(CommandError, match="No login backend"):
        run("delete_login_backend", value)
    assert db_state() == before


@pytest.mark.parametrize("application", ["Nope", "00000000-0000-0000-0000-000000000000", "Portal\x00"])
def test_an_unknown_application_changes_nothing(world, application: str) -> None:
    before = db_state()
    with pytest.raises(CommandError, match="No application"):
        run("create_login_backend", "--application", application, "--tenant", str(world.tenant.pk))
    assert db_state() == before


def test_the_json_of_a_backend_is_the_apis(world, api_client) -> None:
    created: dict[str, Any] = json.loads(
        run("create_login_backend", "--application", str(world.application.pk), "--json")
    )["loginBackend"]
    answer = api_client.get(
        f"/api/application/{world.application.pk}/login-backend/{created['id']}",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert answer.json()["loginBackend"] == created


def test_tenant_alone_lists_that_tenants_backends_only(world) -> None:
    """`--tenant` without `--application` was ignored: every tenant's backends were listed."""
    from tests.factories import ApplicationFactory, TenantFactory

    other = ApplicationFactory(tenant=TenantFactory(name="Elsewhere"), name="Theirs")
    login_backend_create(application=world.application, name="ours")
    login_backend_create(application=other, name="theirs")
    mine = json.loads(run("list_login_backends", "--tenant", str(world.tenant.pk), "--json"))["loginBackends"]
    assert [b["name"] for b in mine] == ["ours"]
    assert {b["name"] for b in json.loads(run("list_login_backends", "--json"))["loginBackends"]} >= {
        "ours",
        "theirs",
    }


def test_an_application_id_of_another_tenant_than_the_one_named_is_refused(world) -> None:
    """`--tenant A --application <B's id>` created the backend in B; rotate_client_secret refuses it."""
    from tests.factories import ApplicationFactory, TenantFactory

    theirs = ApplicationFactory(tenant=TenantFactory(name="Elsewhere"), name="Theirs")
    before = db_state()
    with pytest.raises(CommandError, match="belongs to another tenant"):
        run(
            "create_login_backend",
            "--tenant",
            str(world.tenant.pk),
            "--application",
            str(theirs.pk),
            "--name",
            "x",
        )
    assert db_state() == before
