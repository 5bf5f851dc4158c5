"""Settings fail closed: no secret key or key-encryption key, no start (outside debug)."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEK = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _start(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "IDENTITY_", "DATABASE_URL"))
    }
    clean.update(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_ENV_FILE=str(tmp_path / "absent.env"))
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IDENTITY_KEY_ENCRYPTION_KEY": KEK}, "DJANGO_SECRET_KEY is required"),
        ({"DJANGO_SECRET_KEY": "x" * 60}, "IDENTITY_KEY_ENCRYPTION_KEY is required"),
        ({"DJANGO_DEBUG": "maybe", "IDENTITY_KEY_ENCRYPTION_KEY": KEK}, "DJANGO_DEBUG must be a boolean"),
        ({"DJANGO_SECRET_KEY": "x" * 60, "IDENTITY_KEY_ENCRYPTION_KEY": "too-short"}, "identity.E001"),
    ],
)
def test_missing_or_bad_secrets_refuse_to_start(tmp_path, env, message):
    result = _start(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_debug_runs_without_a_secret_key(tmp_path):
    result = _start(tmp_path, DJANGO_DEBUG="1", IDENTITY_KEY_ENCRYPTION_KEY=KEK)
    assert result.returncode == 0, result.stderr


def test_env_file_supplies_values_but_real_environment_wins(tmp_path):
    env_file = tmp_path / "dev.env"
    env_file.write_text(f"# comment\nDJANGO_DEBUG=1\nIDENTITY_KEY_ENCRYPTION_KEY='{KEK}'\n")
    assert _start(tmp_path, DJANGO_ENV_FILE=str(env_file)).returncode == 0
    assert _start(tmp_path, DJANGO_ENV_FILE=str(env_file), DJANGO_DEBUG="0").returncode != 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "0 None"),
        ({"DJANGO_BEHIND_TLS_PROXY": "1"}, "1 ('HTTP_X_FORWARDED_PROTO', 'https')"),
        (
            {"DJANGO_BEHIND_TLS_PROXY": "1", "IDENTITY_TRUSTED_PROXY_COUNT": "2"},
            "2 ('HTTP_X_FORWARDED_PROTO', 'https')",
        ),
        ({"IDENTITY_TRUSTED_PROXY_COUNT": "1"}, "1 None"),
    ],
)
def test_behind_tls_proxy_trusts_one_proxy_unless_told(tmp_path, env: dict[str, str], expected: str) -> None:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "IDENTITY_", "DATABASE_URL"))
    }
    clean.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV_FILE=str(tmp_path / "absent.env"),
        DJANGO_SECRET_KEY="x" * 60,
        IDENTITY_KEY_ENCRYPTION_KEY=KEK,
        **env,
    )
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.IDENTITY_TRUSTED_PROXY_COUNT, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_trusted_proxy_count_out_of_range_refuses_to_start(tmp_path) -> None:
    result = _start(
        tmp_path,
        DJANGO_SECRET_KEY="x" * 60,
        IDENTITY_KEY_ENCRYPTION_KEY=KEK,
        IDENTITY_TRUSTED_PROXY_COUNT="11",
    )
    assert result.returncode != 0
    assert "identity.E004" in result.stderr


@pytest.mark.parametrize(
    "rates",
    ["login.account=often", "login.acount=5/min", "login.account=0/min", "login.account"],
)
def test_bad_throttle_rates_refuse_to_start(tmp_path, rates: str) -> None:
    result = _start(
        tmp_path, DJANGO_SECRET_KEY="x" * 60, IDENTITY_KEY_ENCRYPTION_KEY=KEK, IDENTITY_THROTTLE_RATES=rates
    )
    assert result.returncode != 0
    assert "identity.E005" in result.stderr or "IDENTITY_THROTTLE_RATES must be KEY=value" in result.stderr


def test_throttle_rates_from_the_environment_change_only_what_they_name(tmp_path) -> None:
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "r = s.IDENTITY_THROTTLE_RATES; print(r['login.account'], r['refresh.address'], r['login.address'])"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "IDENTITY_"))}
    clean.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV_FILE=str(tmp_path / "absent.env"),
        DJANGO_SECRET_KEY="x" * 60,
        IDENTITY_KEY_ENCRYPTION_KEY=KEK,
        IDENTITY_THROTTLE_RATES=" login.account=10/min , refresh.address=off",
    )
    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["10/min", "off", "120/min"]


@pytest.mark.parametrize(("value", "expected"), [(None, "False"), ("1", "True"), ("0", "False")])
def test_server_side_cursors_can_be_turned_off_for_pgbouncer(
    tmp_path, value: str | None, expected: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "IDENTITY_", "DATABASE_"))}
    clean.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV_FILE=str(tmp_path / "absent.env"),
        DJANGO_SECRET_KEY="x" * 60,
        IDENTITY_KEY_ENCRYPTION_KEY=KEK,
        DATABASE_URL="postgres://u@127.0.0.1:5432/db",
    )
    if value is not None:
        clean["DATABASE_DISABLE_SERVER_SIDE_CURSORS"] = value
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'])"
    )
    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
