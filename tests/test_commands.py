"""Management commands: happy paths, one-line errors that leave nothing behind, and seed_demo."""

from __future__ import annotations

import io
import json
import os
import shlex
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import authenticate
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, include, path, reverse
from django.utils import timezone

from identity.exceptions import NotAuthenticated, ValidationFailed
from identity.hashing import secret_digest
from identity.models import APIKey, Application, Registration, SigningKey, Tenant, User
from identity.selectors import tenant_get_default
from identity.services.api_keys import api_key_authenticate
from identity.services.applications import RoleSpec
from identity.services.tenants import tenant_delete
from identity.services.users import user_delete
from tests.factories import (
    DEFAULT_PASSWORD,
    ApplicationFactory,
    RegistrationFactory,
    TenantFactory,
    UserFactory,
)

COMMANDS = [
    "create_tenant",
    "create_application",
    "create_user",
    "register_user",
    "create_api_key",
    "generate_signing_key",
    "seed_demo",
]
STRONG_PASSWORD = "violet kettle 4 moonrise"


def _login_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


# A URLconf serving a login route, for the seed_demo test that expects the curl line.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include(([path("api/login", _login_view, name="login")], "identity"))),
]


def run(command_line: str, *extra: str) -> str:
    """Run `manage.py <command_line> <extra...>` in-process and return its standard output."""
    out = io.StringIO()
    call_command(*shlex.split(command_line), *extra, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_json(command_line: str, *extra: str) -> dict[str, Any]:
    return json.loads(run(command_line, *extra, "--json"))


# The audit trail records changes (and is checked by tests/events); the state is everything else.
LOGS = frozenset({"identity.AuditEntry"})


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models(include_auto_created=True)
        if model._meta.label not in LOGS
    }


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    """Two tenants, each with an application and a user; one email exists in both tenants."""
    acme = TenantFactory(name="Acme")
    other = TenantFactory(name="Other")
    acme_app = ApplicationFactory(
        tenant=acme,
        name="Acme app",
        roles=[RoleSpec(name="admin"), RoleSpec(name="user", is_default=True)],
    )
    other_app = ApplicationFactory(tenant=other, name="Other app", roles=[RoleSpec(name="user")])
    alice = UserFactory(tenant=acme, email="alice@example.com")
    bob = UserFactory(tenant=other, email="bob@example.com")
    RegistrationFactory(user=bob, application=other_app)
    UserFactory(tenant=acme, email="shared@example.com")
    UserFactory(tenant=other, email="shared@example.com")
    return {
        "acme": acme,
        "other": other,
        "acme_app": acme_app,
        "other_app": other_app,
        "alice": alice,
        "bob": bob,
    }


# --- create_tenant -------------------------------------------------------------------------------


def test_create_tenant_prints_json_of_the_new_row(db: None) -> None:
    data = run_json("create_tenant --name Acme --issuer https://acme.test")
    tenant = Tenant.objects.get(pk=data["id"])
    assert data == {"id": str(tenant.pk), "name": "Acme", "issuer": "https://acme.test"}
    assert not tenant.is_default


def test_create_tenant_without_json_prints_a_short_summary(db: None) -> None:
    out = run("create_tenant --name Acme --issuer https://acme.test")
    tenant = Tenant.objects.get(name="Acme")
    assert out.strip() == f"Created tenant Acme ({tenant.pk}), issuer https://acme.test."


# --- create_application --------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["name", "id"])
def test_create_application_with_roles_and_refresh_settings(world: dict[str, Any], by: str) -> None:
    tenant_ref = "ACME" if by == "name" else str(world["acme"].pk)
    data = run_json(
        f"create_application --tenant {tenant_ref} --name Shop --roles 'admin, user,viewer'"
        " --default-roles USER --generate-refresh-tokens --allow-token-refresh"
    )
    application = Application.objects.get(pk=data["id"])
    assert application.tenant == world["acme"]
    assert application.generate_refresh_tokens and application.allow_token_refresh
    assert data["tenantId"] == str(world["acme"].pk)
    assert data["name"] == "Shop"
    assert data["roles"] == [
        {"name": "admin", "isDefault": False},
        {"name": "user", "isDefault": True},
        {"name": "viewer", "isDefault": False},
    ]
    assert sorted(application.roles.values_list("name", "is_default")) == [
        ("admin", False),
        ("user", True),
        ("viewer", False),
    ]


def test_create_application_in_the_default_tenant_without_roles(db: None) -> None:
    data = run_json("create_application --tenant default --name 'Console tools'")
    application = Application.objects.get(pk=data["id"])
    assert application.tenant == tenant_get_default()
    assert data["roles"] == []
    assert not application.generate_refresh_tokens and not application.allow_token_refresh


# --- create_user ---------------------------------------------------------------------------------


def test_create_user_reads_the_password_from_stdin(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{STRONG_PASSWORD}\nnot read\n"))
    out = run(
        "create_user --tenant acme --email carol@example.com --username carol"
        " --first-name Carol --last-name Jones --password-stdin --json"
    )
    data = json.loads(out)
    user = User.objects.get(pk=data["id"])
    assert data == {
        "id": str(user.pk),
        "tenantId": str(world["acme"].pk),
        "email": "carol@example.com",
        "username": "carol",
    }
    assert (user.first_name, user.last_name) == ("Carol", "Jones")
    assert user.check_password(STRONG_PASSWORD)
    assert not user.is_staff and not user.is_superuser
    assert STRONG_PASSWORD not in out


def test_create_user_reads_the_password_from_an_env_var(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEW_ADMIN_PASSWORD", STRONG_PASSWORD)
    out = run(
        "create_user --tenant Default --email root@example.com --password-env NEW_ADMIN_PASSWORD --superuser"
    )
    user = User.objects.get(email="root@example.com")
    assert out.strip() == f"Created user root@example.com ({user.pk}) in tenant Default."
    assert user.tenant.is_default and user.is_staff and user.is_superuser
    assert authenticate(username="root@example.com", password=STRONG_PASSWORD) == user


# --- register_user -------------------------------------------------------------------------------


def test_register_user_by_email_and_app_name_grants_default_roles(world: dict[str, Any]) -> None:
    data = run_json("register_user --user ALICE@example.com --application 'acme APP'")
    registration = Registration.objects.get(pk=data["id"])
    assert (registration.user, registration.application) == (world["alice"], world["acme_app"])
    assert data == {
        "id": str(registration.pk),
        "userId": str(world["alice"].pk),
        "applicationId": str(world["acme_app"].pk),
        "roles": ["user"],
    }


def test_register_user_by_ids_with_explicit_roles(world: dict[str, Any]) -> None:
    data = run_json(
        f"register_user --user {world['alice'].pk} --application {world['acme_app'].pk} --roles ADMIN,user"
    )
    assert data["roles"] == ["admin", "user"]
    assert Registration.objects.get(pk=data["id"]).roles == ["admin", "user"]


def test_register_user_email_of_several_tenants_is_narrowed_by_tenant(world: dict[str, Any]) -> None:
    data = run_json("register_user --user shared@example.com --tenant other --application 'Other app'")
    registration = Registration.objects.get(pk=data["id"])
    assert registration.user.tenant == world["other"]
    assert registration.roles == []


# --- create_api_key ------------------------------------------------------------------------------


def test_create_api_key_with_permissions_tenant_and_expiry(world: dict[str, Any]) -> None:
    data = run_json(
        "create_api_key --tenant acme --name refresher --description 'Refresh only'"
        " --permission /api/jwt/refresh:get,DELETE --permission /api/login:POST"
        " --expires-in-days 30 --key-manager"
    )
    api_key = APIKey.objects.get(pk=data["id"])
    assert api_key.key_digest == secret_digest(data["key"])
    assert data == {
        "id": str(api_key.pk),
        "key": data["key"],
        "prefix": data["key"][:8],
        "tenantId": str(world["acme"].pk),
        "keyManager": True,
        "permissions": {"/api/jwt/refresh": ["DELETE", "GET"], "/api/login": ["POST"]},
    }
    assert (api_key.name, api_key.description, api_key.prefix) == (
        "refresher",
        "Refresh only",
        data["key"][:8],
    )
    assert api_key.expires_at is not None
    assert abs(api_key.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert api_key_authenticate(raw=data["key"], endpoint="/api/jwt/refresh", method="DELETE") == api_key
    with pytest.raises(NotAuthenticated):
        api_key_authenticate(raw=data["key"], endpoint="/api/user", method="GET")


def test_create_api_key_defaults_to_a_global_super_key(db: None) -> None:
    out = run("create_api_key")
    api_key = APIKey.objects.get()
    raw = out.strip().splitlines()[-1]
    assert api_key.key_digest == secret_digest(raw)
    assert api_key.tenant is None and api_key.permissions == {} and not api_key.key_manager


def test_create_api_key_value_is_stored_nowhere_in_plaintext(world: dict[str, Any]) -> None:
    raw = run_json("create_api_key --tenant acme --name scan")["key"]
    for model in apps.get_models(include_auto_created=True):
        for row in model._default_manager.values_list():
            assert raw not in repr(row), model._meta.label
    assert APIKey.objects.filter(key_digest=secret_digest(raw)).exists()


# --- generate_signing_key ------------------------------------------------------------------------


def test_generate_signing_key_for_a_tenant_and_make_it_the_signer(world: dict[str, Any]) -> None:
    data = run_json("generate_signing_key --tenant acme --algorithm ES256 --name k1 --make-default")
    key = SigningKey.objects.get(pk=data["id"])
    assert data == {
        "id": str(key.pk),
        "kid": key.kid,
        "algorithm": "ES256",
        "tenantId": str(world["acme"].pk),
        "publicKey": key.public_key,
    }
    assert key.public_key.startswith("-----BEGIN PUBLIC KEY-----")
    acme = Tenant.objects.get(pk=world["acme"].pk)
    assert acme.access_token_signing_key == key and acme.id_token_signing_key == key


def test_generate_global_hmac_key_shows_its_secret_and_signs_for_the_default_tenant(db: None) -> None:
    data = run_json("generate_signing_key --algorithm HS384 --name shared --make-default")
    key = SigningKey.objects.get(pk=data["id"])
    assert key.tenant is None and key.length == 48
    assert set(data) == {"id", "kid", "algorithm", "tenantId", "secret"}
    assert data["tenantId"] is None and len(data["secret"]) == 64  # 48 bytes, base64url
    assert data["secret"] not in key.encrypted_secret
    assert tenant_get_default().access_token_signing_key == key


def test_generate_rsa_key_with_a_length_and_a_summary(world: dict[str, Any]) -> None:
    out = run("generate_signing_key --tenant Other --algorithm RS256 --length 3072 --name r")
    key = SigningKey.objects.get(name="r")
    assert key.length == 3072 and key.tenant == world["other"]
    assert out.strip() == f"Generated RS256 key r ({key.pk}), kid {key.kid}."
    assert Tenant.objects.get(pk=world["other"].pk).access_token_signing_key != key  # not made the signer


def test_generate_signing_key_rolls_back_the_key_when_making_it_default_fails(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**kwargs: Any) -> Tenant:
        raise ValidationFailed.on_field("tenant.jwtConfiguration.accessTokenKeyId", "invalid", "Refused.")

    monkeypatch.setattr("identity.management.commands.generate_signing_key.tenant_signing_key_set", refuse)
    before = row_counts()
    with pytest.raises(CommandError, match=r"^tenant\.jwtConfiguration\.accessTokenKeyId: Refused\.$"):
        run("generate_signing_key --tenant acme --algorithm ES256 --name k --make-default")
    assert row_counts() == before


# --- bad input -----------------------------------------------------------------------------------

# (command line, part of the one-line error). `{other_app}` is the id of another tenant's application.
BAD_INPUTS = [
    ("create_tenant --name default --issuer x", "tenant.name: A tenant with this name already exists"),
    ("create_tenant --name ' ' --issuer x", "tenant.name: A name is required"),
    ("create_tenant --name New", "the following arguments are required: --issuer"),
    ("create_application --tenant Nope --name X", "No tenant has the id or name 'Nope'."),
    ("create_application --tenant 00000000-0000-0000-0000-000000000000 --name X", "No tenant has the id"),
    ("create_application --tenant acme --name 'ACME APP'", "application.name: An application with this name"),
    (
        "create_application --tenant acme --name X --roles a,b --default-roles b,c",
        "--default-roles names roles missing from --roles: c.",
    ),
    ("create_application --tenant acme --name X --roles a,b,A", "role.name: The role 'A' already exists."),
    (
        "create_user --tenant acme --email n@example.com --password-stdin --password-env PW",
        "argument --password-env: not allowed with argument --password-stdin",
    ),
    (
        "create_user --tenant acme --email n@example.com",
        "one of the arguments --password-stdin --password-env is required",
    ),
    (
        "create_user --tenant acme --email n@example.com --password-env MISSING_PW",
        "The environment variable MISSING_PW is not set or empty.",
    ),
    (
        "create_user --tenant acme --email n@example.com --password-env EMPTY_PW",
        "The environment variable EMPTY_PW is not set or empty.",
    ),
    ("create_user --tenant acme --email n@example.com --password-stdin", "No password on standard input."),
    (
        "create_user --tenant acme --email n@example.com --password-env WEAK_PW",
        "user.password: This password is too common.",
    ),
    (
        "create_user --tenant acme --email Alice@Example.com --password-env PW",
        "user.email: A user with this email already exists.",
    ),
    (
        "create_user --tenant acme --email nope --password-env PW",
        "user.email: This is not a valid email address.",
    ),
    (
        "create_user --tenant nope --email n@example.com --password-env PW",
        "No tenant has the id or name 'nope'.",
    ),
    (
        "register_user --user alice@example.com --application 'Acme app' --roles user,root",
        "registration.roles: Not roles of the application: root.",
    ),
    (
        "register_user --user alice@example.com --application {other_app}",
        "registration.applicationId: The application belongs to another tenant.",
    ),
    (
        "register_user --user alice@example.com --application 'Other app'",
        "No application has the id 'Other app' or that name in tenant Acme.",
    ),
    (
        "register_user --user nobody@example.com --application 'Acme app'",
        "No user has the id or email 'nobody@example.com'.",
    ),
    (
        "register_user --user bob@example.com --tenant acme --application 'Acme app'",
        "No user has the id or email 'bob@example.com' in tenant Acme.",
    ),
    (
        "register_user --user shared@example.com --application 'Acme app'",
        "Users of several tenants have the email 'shared@example.com'; pass the user id or --tenant.",
    ),
    (
        "register_user --user bob@example.com --application 'Other app'",
        "registration.applicationId: The user is already registered for this application.",
    ),
    *[
        (
            f"create_api_key --permission /api/login:POST --permission {shlex.quote(value)}",
            f"--permission takes PATH:METHOD[,METHOD...], e.g. /api/login:POST; got {value!r}.",
        )
        for value in ["/api/login", ":GET", "/api/login:", "/api/login: , "]
    ],
    ("create_api_key --permission /api/login:FETCH", "Unknown HTTP methods for /api/login: FETCH."),
    ("create_api_key --permission login:GET", "'login' is not an API endpoint path."),
    ("create_api_key --expires-in-days 0", "argument --expires-in-days: '0' is not a whole number from 1 to"),
    ("create_api_key --tenant nope", "No tenant has the id or name 'nope'."),
    ("generate_signing_key --algorithm XX256 --name k", "argument --algorithm: invalid choice: 'XX256'"),
    (
        "generate_signing_key --algorithm RS256 --length 1024 --name k",
        "key.length: RSA keys are 2048, 3072 or 4096 bits.",
    ),
    (
        "generate_signing_key --algorithm HS256 --length 16 --name k",
        "key.length: HS256 secrets are 32 to 512 bytes long.",
    ),
    (
        "generate_signing_key --algorithm ES256 --length 256 --name k",
        "--length applies to RSA and HMAC keys only, not ES256.",
    ),
    ("generate_signing_key --algorithm ES256 --name ' '", "key.name: A name is required."),
    ("generate_signing_key --tenant nope --algorithm ES256 --name k", "No tenant has the id or name 'nope'."),
]


@pytest.mark.parametrize(("command_line", "message"), BAD_INPUTS, ids=[line for line, _ in BAD_INPUTS])
def test_bad_input_is_a_one_line_error_and_creates_nothing(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, command_line: str, message: str
) -> None:
    monkeypatch.setenv("PW", STRONG_PASSWORD)
    monkeypatch.setenv("EMPTY_PW", "")
    monkeypatch.setenv("WEAK_PW", "password")
    monkeypatch.delenv("MISSING_PW", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    before = row_counts()
    with pytest.raises(CommandError) as excinfo:
        run(command_line.format(other_app=world["other_app"].pk))
    error = str(excinfo.value)
    assert "\n" not in error
    assert message in error
    assert STRONG_PASSWORD not in error
    assert row_counts() == before


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_and_a_json_flag(name: str) -> None:
    command = load_command_class("identity", name)
    help_text = command.create_parser("manage.py", name).format_help()
    assert command.help and command.help.split()[0] in help_text
    assert "--json" in help_text


def test_cli_errors_are_one_line_on_stderr_with_a_nonzero_exit(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert manage("migrate", "--verbosity", "0").returncode == 0
    created = manage("create_tenant", "--name", "Acme", "--issuer", "https://acme.test", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "Acme"

    duplicate = manage("create_tenant", "--name", "ACME", "--issuer", "https://other.test")
    assert duplicate.returncode == 1
    assert duplicate.stdout == ""
    assert duplicate.stderr.splitlines() == [
        "CommandError: tenant.name: A tenant with this name already exists."
    ]

    bad_choice = manage("generate_signing_key", "--algorithm", "XX256", "--name", "k")
    assert bad_choice.returncode == 2
    assert len(bad_choice.stderr.splitlines()) == 1
    assert "invalid choice: 'XX256'" in bad_choice.stderr


# --- seed_demo -----------------------------------------------------------------------------------


def seed(credentials: Path, *extra: str) -> dict[str, Any]:
    return run_json("seed_demo --credentials-file", str(credentials), *extra)


def assert_credentials_work(data: dict[str, Any]) -> None:
    admin_user = authenticate(username=data["adminEmail"], password=data["adminPassword"])
    assert admin_user is not None and str(admin_user.pk) == data["adminUserId"]
    assert admin_user.is_staff and admin_user.is_superuser and admin_user.tenant.is_default
    demo_user = User.objects.get(pk=data["demoUserId"])
    assert demo_user.check_password(data["demoPassword"])
    api_key = APIKey.objects.get(pk=data["apiKeyId"])
    assert api_key.key_digest == secret_digest(data["apiKey"])
    assert api_key_authenticate(raw=data["apiKey"], endpoint="/api/login", method="POST") == api_key


@pytest.fixture
def without_login_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that serves no login API, whatever the current URLconf holds."""

    def reverse_without_login(viewname: str, *args: Any, **kwargs: Any) -> str:
        if viewname == "identity:login":
            raise NoReverseMatch(viewname)
        return reverse(viewname, *args, **kwargs)

    monkeypatch.setattr("identity.management.commands.seed_demo.reverse", reverse_without_login)


def ids(data: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in data.items() if name.endswith("Id")}


def test_seed_demo_creates_the_demo_world(db: None, tmp_path: Path, without_login_api: None) -> None:
    credentials = tmp_path / "var" / "demo-credentials.json"
    data = seed(credentials)

    assert data["changes"] == [
        "credentials",
        "tenant",  # a new tenant comes with its own signing key
        "application",
        "admin",
        "demo user",
        "registration",
        "login backend jwt",
        "login backend cookie",
        "API key",
    ]
    tenant = Tenant.objects.get(pk=data["tenantId"])
    assert (tenant.name, tenant.issuer) == ("Demo", "http://127.0.0.1:8000")
    key = SigningKey.objects.get(pk=data["signingKeyId"])
    assert key.tenant == tenant and key.algorithm == "ES256"
    assert tenant.access_token_signing_key == key and tenant.id_token_signing_key == key
    application = Application.objects.get(pk=data["applicationId"])
    assert application.tenant == tenant and application.name == "Demo app"
    assert application.generate_refresh_tokens and application.allow_token_refresh
    assert application.require_authentication
    assert sorted(application.roles.values_list("name", "is_default")) == [("admin", False), ("user", True)]
    assert data["adminEmail"] == "admin@example.com" and data["demoEmail"] == "demo@example.com"
    assert Registration.objects.get(user_id=data["demoUserId"], application=application).roles == ["user"]
    assert APIKey.objects.get(pk=data["apiKeyId"]).tenant == tenant
    assert data["adminUrl"] == "http://127.0.0.1:8000/admin/"
    assert data["loginCurl"] is None
    assert_credentials_work(data)

    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    stored = json.loads(credentials.read_text())
    assert stored == {
        "admin_password": data["adminPassword"],
        "demo_password": data["demoPassword"],
        "api_key": data["apiKey"],
    }


def test_seed_demo_again_without_base_url_prints_the_address_the_demo_was_made_for(
    db: None, tmp_path: Path, without_login_api: None
) -> None:
    """`PORT=8051 make run` seeds with that address; a plain `seed_demo` later must print it, not
    port 8000, or the printed export line points at another server."""
    credentials = tmp_path / "demo.json"
    seed(credentials, "--base-url", "http://127.0.0.1:8051/")
    again = seed(credentials)
    assert again["changes"] == [] and again["adminUrl"] == "http://127.0.0.1:8051/admin/"
    assert "BASE=http://127.0.0.1:8051 " in again["shellExports"]
    Tenant.objects.filter(name="Demo").update(issuer="acme.com")  # not a URL: the usual default
    assert seed(credentials)["adminUrl"] == "http://127.0.0.1:8000/admin/"


def test_seed_demo_twice_changes_nothing_and_prints_the_same_working_credentials(
    db: None, tmp_path: Path
) -> None:
    credentials = tmp_path / "demo-credentials.json"
    first = seed(credentials)
    counts = row_counts()
    second = seed(credentials)

    assert row_counts() == counts
    assert second["changes"] == []
    assert ids(second) == ids(first)
    for secret in ("adminPassword", "demoPassword", "apiKey"):
        assert second[secret] == first[secret]
    assert_credentials_work(second)


def test_seed_demo_summary_prints_credentials_every_time(
    db: None, tmp_path: Path, without_login_api: None
) -> None:
    credentials = tmp_path / "demo-credentials.json"
    outputs = [run("seed_demo --credentials-file", str(credentials)) for _ in range(2)]
    stored = json.loads(credentials.read_text())
    for out in outputs:
        assert "http://127.0.0.1:8000/admin/" in out
        assert f"email admin@example.com  password {stored['admin_password']}" in out
        assert f"API key: {stored['api_key']}" in out
        assert f"demo@example.com  password {stored['demo_password']}" in out
        assert "The login API is not served by this build yet" in out
        assert "curl -s" not in out
    assert outputs[0].startswith("Demo data: created or reset credentials, tenant,")
    assert outputs[1].startswith("Demo data: already in place.")


def test_seed_demo_without_its_credentials_file_issues_new_working_ones(db: None, tmp_path: Path) -> None:
    credentials = tmp_path / "demo-credentials.json"
    first = seed(credentials)
    counts = row_counts()
    credentials.unlink()
    second = seed(credentials)

    assert second["changes"] == ["credentials", "admin password", "demo user password", "API key"]
    assert {k: v for k, v in ids(second).items() if k != "apiKeyId"} == {
        k: v for k, v in ids(first).items() if k != "apiKeyId"
    }
    for secret in ("adminPassword", "demoPassword", "apiKey"):
        assert second[secret] != first[secret]
    assert_credentials_work(second)
    assert authenticate(username="admin@example.com", password=first["adminPassword"]) is None
    # The old key is not revoked (it may be in someone's script); only a new one is added.
    assert row_counts() == {**counts, "identity.APIKey": counts["identity.APIKey"] + 1}
    assert APIKey.objects.filter(pk=first["apiKeyId"]).exists()


def test_seed_demo_replaces_an_unreadable_credentials_file(db: None, tmp_path: Path) -> None:
    credentials = tmp_path / "demo-credentials.json"
    credentials.write_text('{"admin_password": 1}')
    credentials.chmod(0o644)
    data = seed(credentials)
    assert "credentials" in data["changes"]
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert_credentials_work(data)


def test_seed_demo_recreates_deleted_rows_with_the_stored_credentials(db: None, tmp_path: Path) -> None:
    credentials = tmp_path / "demo-credentials.json"
    first = seed(credentials)
    counts = row_counts()
    tenant_delete(tenant=Tenant.objects.get(pk=first["tenantId"]))
    user_delete(user=User.objects.get(pk=first["adminUserId"]))

    second = seed(credentials)
    assert "credentials" not in second["changes"]
    assert second["tenantId"] != first["tenantId"]
    assert (second["adminPassword"], second["demoPassword"], second["apiKey"]) == (
        first["adminPassword"],
        first["demoPassword"],
        first["apiKey"],
    )
    assert_credentials_work(second)
    assert row_counts() == counts


def test_seed_demo_resets_a_changed_admin_password(db: None, tmp_path: Path) -> None:
    credentials = tmp_path / "demo-credentials.json"
    first = seed(credentials)
    admin_user = User.objects.get(pk=first["adminUserId"])
    admin_user.set_password(DEFAULT_PASSWORD)
    admin_user.save()
    assert seed(credentials)["changes"] == ["admin password"]
    assert_credentials_work(first)


@pytest.mark.urls("tests.test_commands")
def test_seed_demo_prints_a_login_curl_once_the_login_api_is_served(db: None, tmp_path: Path) -> None:
    data = seed(tmp_path / "demo-credentials.json", "--base-url", "http://localhost:9000/")
    argv = shlex.split(data["loginCurl"])
    assert argv[:5] == ["curl", "-s", "-X", "POST", "http://localhost:9000/api/login"]
    assert argv[5:9] == ["-H", f"Authorization: {data['apiKey']}", "-H", "Content-Type: application/json"]
    assert argv[9] == "-d"
    assert json.loads(argv[10]) == {
        "loginId": "demo@example.com",
        "password": data["demoPassword"],
        "applicationId": data["applicationId"],
    }
    assert data["adminUrl"] == "http://localhost:9000/admin/"
    assert Tenant.objects.get(pk=data["tenantId"]).issuer == "http://localhost:9000"
    out = run("seed_demo --credentials-file", str(tmp_path / "demo-credentials.json"))
    assert f"Log the demo user in:\n{data['loginCurl']}" in out  # the address the demo was made for


def test_seed_demo_unwritable_credentials_file_is_a_one_line_error(db: None, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    before = row_counts()
    with pytest.raises(
        CommandError, match=r"^Cannot write the credentials file .*not-a-directory/creds\.json: "
    ):
        run("seed_demo --credentials-file", str(blocker / "creds.json"))
    assert row_counts() == before


def test_seed_demo_prints_the_exports_of_the_readmes_try_it_block(db: None, tmp_path: Path) -> None:
    data = seed(tmp_path / "demo-credentials.json", "--base-url", "http://127.0.0.1:8123")
    words = shlex.split(data["shellExports"])
    assert words[0] == "export"
    assert dict(word.split("=", 1) for word in words[1:]) == {
        "BASE": "http://127.0.0.1:8123",
        "TENANT": data["tenantId"],
        "APP": data["applicationId"],
        "API_KEY": data["apiKey"],
        "DEMO_EMAIL": "demo@example.com",
        "DEMO_PASSWORD": data["demoPassword"],
    }
    out = run(
        "seed_demo --base-url http://127.0.0.1:8123 --credentials-file",
        str(tmp_path / "demo-credentials.json"),
    )
    assert data["shellExports"] in out
    assert f"http://127.0.0.1:8123/{data['tenantId']}/.well-known/openid-configuration" in out


@pytest.mark.parametrize(
    "command_line",
    [
        "create_tenant --name {long300} --issuer https://long.example.com",
        "create_tenant --name Longissuer --issuer https://{long300}.example.com",
        "create_application --tenant {tenant} --name {long300}",
        "create_application --tenant {tenant} --name Roles --roles {long300}",
        "create_api_key --tenant {tenant} --name {long300}",
        "create_api_key --tenant {tenant} --name ok --description {long300}",
        "generate_signing_key --tenant {tenant} --algorithm ES256 --name {long300}",
    ],
)
def test_text_longer_than_its_column_is_one_line_and_writes_nothing(db: None, command_line: str) -> None:
    """The API's serializers refused these; the commands reached the database (a DataError
    traceback on PostgreSQL, a silently long value on SQLite). The validators refuse them now."""
    tenant = TenantFactory(name="Lengthy")
    before = row_counts()
    line = command_line.format(long300="a" * 300, tenant=tenant.pk)
    with pytest.raises(CommandError) as info:
        run(line)
    assert "at most" in str(info.value) and "\n" not in str(info.value).strip()
    assert row_counts() == before


@pytest.mark.parametrize(
    "command_line",
    [
        "create_api_key --name k --expires-in-days 99999999999",
        "create_api_key --name k --expires-in-days 3000000",
        "rotate_signing_key --tenant Lengthy --algorithm RS256 --verify-for-seconds 99999999999999",
        "purge_refresh_tokens --retention-days 99999999999 --dry-run",
        "purge_audit_log --older-than 99999999999 --dry-run",
        "purge_audit_log --older-than 365 --batch-size 99999999999999999999",
        "audit_log --limit 99999999999999999999",
        "deliver_webhooks --once --batch-size 99999999999999999999",
        "deliver_webhooks --once --poll-seconds -1",
        "deliver_webhooks --once --poll-seconds nan",
        "deliver_webhooks --once --poll-seconds 0",
    ],
)
def test_a_number_out_of_range_is_a_usage_error_before_anything_runs(db: None, command_line: str) -> None:
    """These overflowed a date or a column (a traceback), or made deliver_webhooks spin at 100 % CPU."""
    TenantFactory(name="Lengthy")
    before = row_counts()
    with pytest.raises(CommandError, match=r"from 1 to|seconds"):
        run(command_line)
    assert row_counts() == before


def test_an_interrupted_command_says_so_on_one_line(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C printed a KeyboardInterrupt traceback (import_users, purge_refresh_tokens)."""
    from identity.management.commands import purge_refresh_tokens

    def interrupted(*args: Any, **kwargs: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(purge_refresh_tokens, "refresh_tokens_purgeable", interrupted)
    with pytest.raises(CommandError, match=r"^Interrupted: ") as info:
        run("purge_refresh_tokens")
    assert info.value.returncode == 130
