"""`manage.py import_users file.json`: the API's import from the command line."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from identity.models import Registration, User
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

PASSWORD = "imported passphrase 7"
SALT = base64.b64encode(b"sixteen byte salt").decode()
HASH = base64.b64encode(
    hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), base64.b64decode(SALT), 1000)
).decode()


def _file(tmp_path: Path, users: list[dict], **extra) -> str:
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": users, **extra}))
    return str(path)


def _user(email: str, **extra) -> dict:
    return {"email": email, "password": HASH, "salt": SALT, **extra}


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_users", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _counts() -> tuple[int, int]:
    return User.objects.count(), Registration.objects.count()


def test_imports_into_the_named_tenant(world, tmp_path):
    app = str(world.application.pk)
    users = [_user("a@example.com", registrations=[{"applicationId": app}]), _user("b@example.com")]
    path = _file(tmp_path, users, encryptionScheme="salted-pbkdf2-hmac-sha256", factor=1000)
    assert _run(path, "--tenant", world.tenant.name) == f"Imported 2 users into tenant {world.tenant.name}.\n"
    user = User.objects.get(tenant=world.tenant, email_key="a@example.com")
    assert user.check_password(PASSWORD) and user.registrations.count() == 1


def test_dry_run_checks_everything_and_keeps_nothing(world, tmp_path):
    before = _counts()
    out = _run(
        _file(tmp_path, [_user("a@example.com")]), "--tenant", str(world.tenant.pk), "--dry-run", "--json"
    )
    assert json.loads(out) == {"tenantId": str(world.tenant.pk), "users": 1, "dryRun": True}
    assert _counts() == before


def test_dry_run_reports_clashes_with_existing_users(world, tmp_path):
    with pytest.raises(CommandError) as info:
        _run(_file(tmp_path, [_user("ANN@example.com")]), "--tenant", world.tenant.name, "--dry-run")
    assert "[duplicate]users[0].email: A user with this email already exists." in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"users": []}', "[invalid]users"),
        (
            json.dumps({"users": [_user("x@example.com"), _user("X@example.com")]}),
            "[duplicate]users[1].email",
        ),
        (
            json.dumps({"users": [_user("x@example.com", encryptionScheme="md5")]}),
            "[invalid]users[0].encryptionScheme",
        ),
    ],
)
def test_bad_files_change_nothing_and_say_why_one_problem_a_line(world, tmp_path, content, message):
    path = tmp_path / "users.json"
    path.write_text(content)
    before = _counts()
    with pytest.raises(CommandError) as info:
        _run(str(path), "--tenant", world.tenant.name)
    assert message in str(info.value)
    assert all(re.match(r"\[\w+\]\S*: ", line) for line in str(info.value).splitlines()[1:])
    assert _counts() == before


def test_many_problems_are_listed_up_to_a_limit(world, tmp_path):
    users = [_user("same@example.com") for _ in range(80)]
    with pytest.raises(CommandError) as info:
        _run(_file(tmp_path, users), "--tenant", world.tenant.name)
    lines = str(info.value).splitlines()
    assert lines[0] == "Nothing was imported (79 problems):" and lines[-1] == "… and 29 more."


def test_one_problem_is_one_problem(world, tmp_path):
    users = [_user("same@example.com"), _user("same@example.com")]
    with pytest.raises(CommandError, match=r"^Nothing was imported \(1 problem\):\n"):
        _run(_file(tmp_path, users), "--tenant", world.tenant.name)


def test_a_missing_file_or_an_ambiguous_tenant_is_one_line(world, tmp_path):
    TenantFactory()
    with pytest.raises(CommandError, match="Cannot read"):
        _run(str(tmp_path / "nope.json"), "--tenant", world.tenant.name)
    with pytest.raises(CommandError, match="--tenant"):
        _run(_file(tmp_path, [_user("a@example.com")]))
