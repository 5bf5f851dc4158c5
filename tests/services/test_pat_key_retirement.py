"""Key retirement respects long-lived personal access tokens (issue 12): a rotated-out key keeps
verifying the live PATs it signed, and only them need it; once the last one is revoked or expires
it retires as usual; deleting it while they live is refused unless they are to be revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.exceptions import TokenInvalid, ValidationFailed
from identity.key_store import key_snapshot
from identity.models import PersonalAccessToken, RevokedToken, SigningKey
from identity.services import personal_access_tokens as pats
from identity.services.applications import application_update
from identity.services.jwt import jwt_validate
from identity.services.key_publication import keys_published
from identity.services.personal_access_tokens import pat_create, pat_revoke, pats_revoke_for_user
from identity.services.signing_keys import (
    signing_key_delete,
    signing_key_live_tokens,
    signing_key_rotate,
)
from tests.factories import TenantFactory, make_api_key, make_signing_key

pytestmark = pytest.mark.django_db

# Well past the rotation's default retirement (the longest access-token TTL plus a margin).
LATER = timedelta(days=2)


@pytest.fixture(autouse=True)
def stamps(monkeypatch):
    monkeypatch.setattr(pats, "usage_stamper", lambda jti, now: None)


def rotate(world) -> SigningKey:
    """Rotate the tenant's key; the old one's own retirement is the default deadline."""
    old = world.tenant.access_token_signing_key
    signing_key_rotate(tenant=world.tenant, algorithm="ES256", name="next")
    old.refresh_from_db()
    assert old.expires_at is not None and old.expires_at < timezone.now() + LATER
    return old


def trusted_later(key: SigningKey, world) -> bool:
    later = timezone.now() + LATER
    loaded = key_snapshot().trusted(tenant_id=world.tenant.pk).get(key.kid)
    return loaded is not None and not loaded.expired(later)


def db_state() -> list:
    return [
        list(SigningKey.objects.order_by("pk").values_list("pk", "expires_at")),
        list(PersonalAccessToken.objects.order_by("pk").values_list("pk", "revoked_at", "signing_key")),
        sorted(RevokedToken.objects.values_list("jti", flat=True)),
    ]


def test_the_token_records_the_key_that_signed_it(world):
    created = pat_create(user=world.user, name="ci", expiry="30")
    assert created.token.signing_key_id == world.tenant.access_token_signing_key_id


@pytest.mark.parametrize("expiry", ["30", "60", "90", "Unlimited"])
def test_a_rotated_out_key_keeps_verifying_live_pats(world, expiry):
    created = pat_create(user=world.user, name="ci", expiry=expiry)
    old = rotate(world)
    later = timezone.now() + LATER
    claims = jwt_validate(token=created.value, now=later).claims
    assert claims["jti"] == str(created.token.pk)
    assert trusted_later(old, world)
    assert old.kid in {key.kid for key in keys_published(tenant_id=world.tenant.pk)}


def test_without_a_live_pat_the_old_key_retires_on_time(world):
    created = pat_create(user=world.user, name="ci", expiry="Unlimited")
    pat_revoke(token=created.token, by="test")
    old = rotate(world)
    assert not trusted_later(old, world)


def test_the_hold_ends_with_the_last_pat(world):
    first = pat_create(user=world.user, name="one", expiry="Unlimited")
    second = pat_create(user=world.user, name="two", expiry="90")
    old = rotate(world)
    pat_revoke(token=first.token, by="test")
    assert trusted_later(old, world)  # the 90-day token still needs it
    jwt_validate(token=second.value, now=timezone.now() + LATER)
    loaded = key_snapshot().by_kid[old.kid]
    assert loaded.expires_at == second.token.expires_at  # held exactly as long as that token lives
    pat_revoke(token=second.token, by="test")
    assert not trusted_later(old, world)
    assert key_snapshot().by_kid[old.kid].expires_at == old.expires_at  # its own retirement again
    with pytest.raises(TokenInvalid):
        jwt_validate(token=second.value, now=timezone.now())


def test_deactivating_the_user_ends_the_hold(world):
    pat_create(user=world.user, name="ci", expiry="Unlimited")
    old = rotate(world)
    assert trusted_later(old, world)
    pats_revoke_for_user(user=world.user)
    assert not trusted_later(old, world)


def test_a_hold_ends_by_itself_when_the_pat_expires(world):
    created = pat_create(user=world.user, name="ci", expiry="30")
    old = rotate(world)
    after = created.token.expires_at + timedelta(seconds=1)
    assert key_snapshot().by_kid[old.kid].expired(after)


def test_the_hold_is_for_the_tokens_tenant_only(world):
    pat_create(user=world.user, name="ci", expiry="Unlimited")
    old = rotate(world)
    other = TenantFactory()
    assert old.kid not in key_snapshot().trusted(tenant_id=other.pk)


def expire(key: SigningKey) -> None:
    """Move the key's own retirement into the past (as if the rotation was days ago)."""
    SigningKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    key.refresh_from_db()


def test_deleting_a_key_that_verifies_live_pats_is_refused(world):
    created = pat_create(user=world.user, name="ci", expiry="Unlimited")
    old = rotate(world)
    with pytest.raises(ValidationFailed) as refused:
        signing_key_delete(key=old)  # still trusted for access tokens in flight
    assert refused.value.general_errors[0].code == "[KeyInUse]"
    expire(old)
    before = db_state()
    with pytest.raises(ValidationFailed) as refused:
        signing_key_delete(key=old)
    assert refused.value.general_errors[0].code == "[KeyVerifiesPersonalAccessTokens]"
    assert "1 live personal access token" in refused.value.general_errors[0].message
    assert db_state() == before
    jwt_validate(token=created.value, now=timezone.now() + LATER)


def test_deleting_it_revoking_the_pats_ends_them(world):
    created = pat_create(user=world.user, name="ci", expiry="Unlimited")
    old = rotate(world)
    expire(old)
    assert signing_key_delete(key=old, revoke_personal_access_tokens=True) == 1
    assert not SigningKey.objects.filter(pk=old.pk).exists()
    created.token.refresh_from_db()
    assert created.token.revoked_at is not None and created.token.revoked_by == "signing key deleted"
    with pytest.raises(TokenInvalid):
        jwt_validate(token=created.value, now=timezone.now())


def test_an_expired_retired_key_without_live_pats_may_be_deleted(world):
    old = rotate(world)
    expire(old)
    assert signing_key_live_tokens(key=old) == 0
    assert signing_key_delete(key=old) == 0
    assert not SigningKey.objects.filter(pk=old.pk).exists()


def test_the_command_refuses_then_revokes_on_request(world, capsys):
    pat_create(user=world.user, name="ci", expiry="90")
    old = rotate(world)
    expire(old)
    before = db_state()
    with pytest.raises(CommandError, match="verifies 1 live personal access token"):
        call_command("delete_signing_key", "--", old.kid)  # a thumbprint may start with "-"
    assert db_state() == before
    call_command("delete_signing_key", str(old.pk), "--revoke-personal-access-tokens", "--json")
    assert '"revokedPersonalAccessTokens": 1' in capsys.readouterr().out
    assert not SigningKey.objects.filter(pk=old.pk).exists()


def test_a_kid_that_starts_with_a_dash_is_named_after_the_double_dash(world):
    old = rotate(world)
    expire(old)
    SigningKey.objects.filter(pk=old.pk).update(kid="-" + old.kid[1:])
    call_command("delete_signing_key", "--", "-" + old.kid[1:])
    assert not SigningKey.objects.filter(pk=old.pk).exists()


@pytest.mark.parametrize("flag", ["", "?revokePersonalAccessTokens=false", "?revokePersonalAccessTokens=1"])
def test_the_api_refuses_unless_told_to_revoke(world, api_client, flag):
    pat_create(user=world.user, name="ci", expiry="Unlimited")
    old = rotate(world)
    expire(old)
    _, raw = make_api_key(name="keys")
    api_client.credentials(HTTP_AUTHORIZATION=raw)
    before = db_state()
    response = api_client.delete(f"/api/key/{old.pk}{flag}")
    assert response.status_code == 400
    assert response.json()["generalErrors"][0]["code"] == "[KeyVerifiesPersonalAccessTokens]"
    assert db_state() == before
    assert api_client.delete(f"/api/key/{old.pk}?revokePersonalAccessTokens=true").status_code == 200
    assert not SigningKey.objects.filter(pk=old.pk).exists()
    assert PersonalAccessToken.objects.get().revoked_at is not None
    # One entry for the deletion, one with the count for the tokens it ended (issue 15).
    from identity.models import AuditEntry

    revoked = AuditEntry.objects.get(action="pat.revoke_all", object_id=str(old.pk))
    assert (revoked.count, revoked.actor_kind, revoked.diff) == (
        1,
        "api_key",
        {"revoked_by": "signing key deleted"},
    )
    assert AuditEntry.objects.filter(action="signing_key.delete", object_id=str(old.pk)).count() == 1


def test_a_pat_of_a_held_key_is_still_verified_without_sql(world):
    created = pat_create(user=world.user, name="ci", expiry="Unlimited")
    rotate(world)
    later = timezone.now() + LATER
    jwt_validate(token=created.value, now=later)  # the key and revocation sets loaded
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            jwt_validate(token=created.value, now=later)
    assert len(queries) == 0


def test_an_application_signers_rotation_keeps_its_pats_working(world):
    first = make_signing_key("ES256", tenant=world.tenant, name="app one")
    application_update(application=world.application, jwt_enabled=True, access_token_signing_key=first)
    created = pat_create(user=world.user, name="ci", expiry="60", application_id=world.application.pk)
    assert created.token.signing_key_id == first.pk
    second = make_signing_key("ES256", tenant=world.tenant, name="app two")
    application_update(application=world.application, access_token_signing_key=second)
    first.refresh_from_db()
    assert first.expires_at is not None and first.expires_at < timezone.now() + LATER
    claims = jwt_validate(token=created.value, now=timezone.now() + LATER).claims
    assert claims["aud"] == str(world.application.pk)
    pat_revoke(token=created.token, by="test")
    trusted = key_snapshot().trusted(tenant_id=world.tenant.pk, application_id=world.application.pk)
    assert trusted[first.kid].expired(timezone.now() + LATER)
