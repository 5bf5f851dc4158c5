"""rotate_signing_key and rotate_key_encryption_key."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from identity.key_encryption import encrypted_under_current_key, generate_kek
from identity.key_store import key_snapshot
from identity.models import SigningKey, Tenant
from identity.services.applications import application_create
from identity.services.signing_keys import signing_key_generate, tenant_signing_key_set
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def _run(*args: str) -> dict:
    out = StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def tenant() -> Tenant:
    tenant = TenantFactory(access_token_ttl_seconds=600)
    tenant_signing_key_set(
        tenant=tenant, key=signing_key_generate(tenant=tenant, algorithm="RS256", name="old").key
    )
    return tenant


def test_rotation_defaults_to_the_longest_token_lifetime(tenant):
    application_create(tenant=tenant, name="long", jwt_enabled=True, access_token_ttl_seconds=7200)
    old = tenant.access_token_signing_key
    before = timezone.now()
    result = _run("rotate_signing_key", "--tenant", tenant.name, "--algorithm", "ES256")
    tenant.refresh_from_db()
    assert str(tenant.access_token_signing_key_id) == result["id"]
    assert result["previousKeyId"] == str(old.pk)
    until = parse_datetime(result["verifyUntil"])
    assert before + timedelta(seconds=7200) < until <= timezone.now() + timedelta(seconds=7200 + 301)
    old.refresh_from_db()
    assert abs(old.expires_at - until) < timedelta(milliseconds=1)  # JSON keeps milliseconds
    # The new signer and the one it replaced (the tenant's first key, replaced by the fixture, is
    # still inside its own retirement window).
    assert {old.kid, result["kid"]} <= set(key_snapshot().trusted(tenant_id=tenant.pk))


def test_rotation_with_an_explicit_window(tenant):
    result = _run(
        "rotate_signing_key", "--tenant", str(tenant.pk), "--algorithm", "HS256", "--verify-for-seconds", "60"
    )
    assert len(result["secret"]) >= 43
    until = parse_datetime(result["verifyUntil"])
    assert until <= timezone.now() + timedelta(seconds=61)


@pytest.mark.parametrize(
    "args",
    [
        ["--tenant", "nope", "--algorithm", "ES256"],
        ["--tenant", "{tenant}", "--algorithm", "ES256", "--verify-until", "yesterday"],
        ["--tenant", "{tenant}", "--algorithm", "ES256", "--verify-until", "2001-01-01T00:00:00Z"],
        ["--tenant", "{tenant}", "--algorithm", "XX999"],
        ["--tenant", "{tenant}", "--algorithm", "RS256", "--length", "1000"],
    ],
)
def test_bad_rotations_change_nothing(tenant, args):
    keys = SigningKey.objects.count()
    signer = tenant.access_token_signing_key_id
    with pytest.raises(CommandError):
        call_command("rotate_signing_key", *[a.format(tenant=tenant.name) for a in args], stdout=StringIO())
    tenant.refresh_from_db()
    assert (SigningKey.objects.count(), tenant.access_token_signing_key_id) == (keys, signer)


def test_key_encryption_key_rotation(settings, tenant):
    from identity.models import AuditEntry, Webhook
    from identity.services.webhooks import webhook_create, webhook_secret

    signing_key_generate(tenant=None, algorithm="HS512", name="h")
    hook, hook_secret = webhook_create(
        url="https://receiver.example/hook", events=["user.create"], is_global=True
    )
    assert _run("rotate_key_encryption_key")["pending"] == 0
    old = settings.IDENTITY_KEY_ENCRYPTION_KEY
    settings.IDENTITY_KEY_ENCRYPTION_KEY = generate_kek()
    # Without the old key the blobs cannot be read: a clear error, nothing changed.
    with pytest.raises(CommandError, match="IDENTITY_KEY_ENCRYPTION_KEYS_OLD"):
        call_command("rotate_key_encryption_key", stdout=StringIO())
    settings.IDENTITY_KEY_ENCRYPTION_KEYS_OLD = [old]
    total = SigningKey.objects.exclude(encrypted_secret="").count()
    assert total >= 3  # the tenant's own key, its RS256 signer, the HS512 key
    out = StringIO()
    call_command("rotate_key_encryption_key", "--dry-run", stdout=out)
    assert out.getvalue().startswith(f"{total + 1} of {total + 1} secrets ({total} keys, 1 webhooks)")
    assert _run("rotate_key_encryption_key") == {
        "keys": total,
        "webhooks": 1,
        "pending": 0,
        "reencrypted": total + 1,
    }
    assert all(encrypted_under_current_key(k.encrypted_secret) for k in SigningKey.objects.all())
    # The webhook's secret too: it still signs with the same secret once the old key is dropped.
    settings.IDENTITY_KEY_ENCRYPTION_KEYS_OLD = []
    stored = Webhook.objects.get(pk=hook.pk)
    assert encrypted_under_current_key(stored.encrypted_secret) and webhook_secret(stored) == hook_secret
    # One entry per secret re-encrypted, by the command, with no diff.
    entries = AuditEntry.objects.filter(action__in=["signing_key.reencrypt", "webhook.reencrypt"])
    assert entries.count() == total + 1
    assert {(e.actor_label, json.dumps(e.diff)) for e in entries} == {
        ("manage.py rotate_key_encryption_key", "{}")
    }
