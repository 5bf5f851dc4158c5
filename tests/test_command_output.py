"""What the management commands print: one stable JSON document with --json (its members pinned
here, so a script that reads them breaks only with a visible change to this file), tables for
people, progress bars only at a terminal and never with --json, and no server log lines."""

from __future__ import annotations

import io
import json
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from identity.audit import Actor, acting_as
from identity.services.applications import RoleSpec
from identity.services.audit import audit_record
from identity.services.login_backends import login_backend_create
from identity.services.oauth_clients import oauth_client_configure
from identity.services.refresh_tokens import refresh_token_create
from identity.services.signing_keys import signing_key_generate
from identity.services.webhooks import SUBSCRIPTIONS
from tests.factories import ApplicationFactory, RegistrationFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a person's shell would."""

    def isatty(self) -> bool:
        return True


def _run(command_line: str, *, stdout: io.StringIO | None = None, stderr: io.StringIO | None = None) -> str:
    out = stdout or io.StringIO()
    call_command(*shlex.split(command_line), stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    tenant = TenantFactory(name="Acme")
    app = ApplicationFactory(tenant=tenant, name="Portal", roles=[RoleSpec(name="user", is_default=True)])
    oauth = ApplicationFactory(tenant=tenant, name="Robot")
    oauth_client_configure(application=oauth, scopes=["read"])
    user = UserFactory(tenant=tenant, email="ann@example.com")
    RegistrationFactory(user=user, application=app)
    UserFactory(tenant=tenant, email="bob@example.com")
    login_backend_create(application=app, name="old")
    spare = signing_key_generate(tenant=tenant, algorithm="ES256", name="spare").key
    monkeypatch.setenv("NEW_PASSWORD", "violet kettle 4 moonrise")
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"email": "imported@example.com"}]}))
    return {"tmp": tmp_path, "users": users, "spare_kid": spare.kid}


# command line → the members of its --json document (for a list: of each entry).
JSON_MEMBERS: dict[str, set[str]] = {
    "create_tenant --name Beta --issuer https://beta.test": {"id", "name", "issuer"},
    "create_application --tenant Acme --name Shop --roles a,b --default-roles a": {
        "id",
        "tenantId",
        "name",
        "roles",
    },
    "create_application --tenant Acme --name Api --oauth --scopes read": {
        "id",
        "tenantId",
        "name",
        "roles",
        "oauthConfiguration",
    },
    "create_user --tenant Acme --email new@example.com --password-env NEW_PASSWORD": {
        "id",
        "tenantId",
        "email",
        "username",
    },
    "create_user --tenant Acme --email robot@example.com --bot": {
        "id",
        "tenantId",
        "email",
        "username",
        "bot",
    },
    "register_user --user bob@example.com --application Portal": {"id", "userId", "applicationId", "roles"},
    "create_api_key --name ci": {"id", "key", "prefix", "tenantId", "keyManager", "permissions"},
    "generate_signing_key --tenant Acme --algorithm HS256 --name h": {
        "id",
        "kid",
        "algorithm",
        "tenantId",
        "secret",
    },
    "generate_signing_key --algorithm ES256 --name e": {"id", "kid", "algorithm", "tenantId", "publicKey"},
    "rotate_signing_key --tenant Acme --algorithm ES256": {
        "id",
        "kid",
        "algorithm",
        "tenantId",
        "previousKeyId",
        "verifyUntil",
    },
    # A kid is a base64url thumbprint and may start with "-": after "--" it is never an option.
    "delete_signing_key -- {spare_kid}": {"id", "kid", "revokedPersonalAccessTokens"},
    "create_login_backend --tenant Acme --application Portal --name web": {"loginBackend"},
    "list_login_backends --tenant Acme --application Portal": {"loginBackends"},
    "delete_login_backend old": {"deleted"},
    "rotate_client_secret --tenant Acme --application Robot --overlap-seconds 60": {
        "clientId",
        "clientSecret",
        "previousSecretWorksForSeconds",
    },
    "revoke_access_token --user ann@example.com --all": {"count"},
    "import_users {users} --tenant Acme --dry-run": {"tenantId", "users", "dryRun"},
    "purge_refresh_tokens": {"purgeable", "deleted", "expiredRevocations"},
    "purge_audit_log --older-than 30": {"purgeable", "deleted"},
    "rotate_key_encryption_key": {"keys", "webhooks", "pending", "reencrypted"},
    "deliver_webhooks --once": {"attempts"},
    "audit_log --action tenant.*": {
        "id",
        "createdAt",
        "actor",
        "action",
        "object",
        "tenantId",
        "diff",
        "count",
        "clientIp",
    },
}


@pytest.mark.parametrize("command_line", list(JSON_MEMBERS))
def test_json_output_is_one_document_with_stable_members(scene: dict[str, Any], command_line: str) -> None:
    stderr = Terminal()  # even at a terminal, --json draws no bar
    options, separator, operands = command_line.format(**scene).partition(" -- ")
    out = _run(f"{options} --json{separator}{operands}", stderr=stderr)
    document = json.loads(out)  # exactly one document: json.loads refuses trailing text
    expected = JSON_MEMBERS[command_line]
    if isinstance(document, list):
        assert document, "the scene leaves at least one entry to list"
        assert {frozenset(entry) for entry in document} == {frozenset(expected)}
    else:
        assert set(document) == expected
    assert stderr.getvalue() == ""


def test_create_access_token_json_is_the_api_shape_plus_the_value(scene: dict[str, Any]) -> None:
    # Its members are the access-token API's (tests/api), plus the value shown once.
    document = json.loads(_run("create_access_token --user ann@example.com --name ci --expiry 7 --json"))
    assert {"id", "name", "JWTToken"} <= set(document)


def test_seed_demo_json_members(scene: dict[str, Any]) -> None:
    credentials = scene["tmp"] / "demo.json"
    document = json.loads(_run(f"seed_demo --credentials-file {credentials} --json"))
    assert set(document) == {
        "tenantId",
        "applicationId",
        "signingKeyId",
        "adminUrl",
        "adminUserId",
        "adminEmail",
        "adminPassword",
        "demoUserId",
        "demoEmail",
        "demoPassword",
        "apiKeyId",
        "apiKey",
        "shellExports",
        "loginCurl",
        "credentialsFile",
        "changes",
    }


# --- tables ------------------------------------------------------------------------------------


def test_audit_log_prints_a_table_for_people() -> None:
    with acting_as(Actor(kind="command", id="alice", label="manage.py x")):
        audit_record(action="tenant.update", object_type="tenant", object_id="t1", diff={"name": ["a", "b"]})
        audit_record(action="refresh_token.revoke_family", object_type="refreshtoken", count=3)
    out = _run("audit_log")
    lines = out.splitlines()
    header = next(line for line in lines if "When" in line)
    for column in ("Actor", "Action", "Object", "IP", "Count", "Changes"):
        assert column in header
    rows = [line for line in lines if "command:manage.py x" in line]
    assert len(rows) == 2
    assert "tenant t1" in rows[0] and '{"name": ["a", "b"]}' in rows[0]
    assert "refresh_token.revoke_family" in rows[1] and " 3 " in rows[1]
    assert "\x1b[" not in out  # no colour codes outside a terminal


def test_audit_log_with_nothing_to_show_prints_an_empty_table() -> None:
    out = _run("audit_log --action nothing.matches")
    assert "When" in out and "command:" not in out


# --- progress bars -----------------------------------------------------------------------------


def _old_entries(count: int) -> None:
    old = timezone.now() - timedelta(days=400)
    for n in range(count):
        audit_record(action="tenant.update", object_type="tenant", object_id=str(n), at=old)


def _expired_sessions(count: int) -> None:
    app = ApplicationFactory(generate_refresh_tokens=True)
    user = UserFactory(tenant=app.tenant)
    long_ago = timezone.now() - timedelta(days=60)
    for _ in range(count):
        refresh_token_create(user=user, application=app, now=long_ago, started_at=long_ago)


LONG_WORK: dict[str, tuple[Callable[[], None], str, str]] = {
    "purge_audit_log": (lambda: _old_entries(5), "purge_audit_log --older-than 30 --batch-size 2", "5/5"),
    "purge_refresh_tokens": (lambda: _expired_sessions(3), "purge_refresh_tokens --batch-size 2", "3/3"),
}


@pytest.mark.parametrize("name", list(LONG_WORK))
def test_long_work_draws_a_bar_only_at_a_terminal_and_never_with_json(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, command_line, done = LONG_WORK[name]
    cases = ((io.StringIO(), "", False), (Terminal(), " --json", False), (Terminal(), "", True))
    for stderr, flag, bar in cases:
        setup()
        monkeypatch.setattr(sys, "stderr", stderr)
        out = _run(command_line + flag)
        monkeypatch.undo()
        assert (done in stderr.getvalue()) is bar, (flag, stderr.getvalue())
        if not bar:
            assert stderr.getvalue() == ""
        assert done not in out  # the bar never reaches standard output
        if flag:
            json.loads(out)


def test_import_users_draws_a_bar_at_a_terminal(
    scene: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    _run(f"import_users {scene['users']} --tenant Acme --dry-run")
    monkeypatch.undo()
    assert "2/2" in stderr.getvalue()  # one user, checked then inserted


# --- server log lines ---------------------------------------------------------------------------


def test_commands_hide_the_key_store_log_lines_unless_verbose(
    scene: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="identity.key_store")
    SUBSCRIPTIONS.reset()  # the next event (user.create) rebuilds the webhook store and logs it
    _run("create_user --tenant Acme --email quiet@example.com --bot")
    assert not [r for r in caplog.records if r.name == "identity.key_store" and r.levelno < logging.WARNING]
    assert logging.getLogger("identity.key_store").level == logging.INFO  # restored after the run
    SUBSCRIPTIONS.reset()
    _run("create_user --tenant Acme --email loud@example.com --bot --verbosity 2")
    assert any("store rebuilt" in r.getMessage() for r in caplog.records)


def test_seed_demo_on_the_command_line_prints_only_its_own_output(tmp_path: Path) -> None:
    """`make run` runs seed_demo in a fresh process: nothing may reach standard error (the key-store
    INFO lines did), and standard output is the summary."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_LOG_LEVEL": "INFO",
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
    for _ in range(2):  # the first run creates, the second finds everything in place
        seeded = manage("seed_demo", "--credentials-file", str(tmp_path / "demo.json"))
        assert seeded.returncode == 0, seeded.stderr
        assert seeded.stderr == ""
        assert seeded.stdout.startswith("Demo data: ")


def _identity_commands() -> list[str]:
    from django.core.management import get_commands

    return sorted(name for name, app in get_commands().items() if app == "identity")


def test_the_table_above_covers_every_identity_command() -> None:
    from django.core.management import load_command_class

    from identity.management.base import IdentityBaseCommand

    covered = {line.split()[0] for line in JSON_MEMBERS} | {"create_access_token", "seed_demo"}
    assert covered == set(_identity_commands())
    for name in _identity_commands():
        command = load_command_class("identity", name)
        assert isinstance(command, IdentityBaseCommand), name
        assert "--json" in command.create_parser("manage.py", name).format_help(), name
