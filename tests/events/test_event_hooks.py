"""The events the services emit, in FusionAuth's envelope: revoke (with applicationTimeToLiveInSeconds
and the ids), reuse, public-key update, user create/update/delete, login success/failure, refresh."""

from __future__ import annotations

import pytest
from django.utils import timezone

from identity.models import WebhookEvent
from identity.services.refresh_tokens import (
    RevokeReason,
    refresh_grant,
    refresh_token_create,
    refresh_tokens_revoke,
)
from identity.services.webhooks import EVENT_TYPES, webhook_create
from tests.factories import make_signing_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooked(world, receiver):
    webhook_create(url=receiver.url, events=EVENT_TYPES, tenant_ids=[world.tenant.pk])
    return world


def _events(type: str) -> list[dict]:
    return [e.body["event"] for e in WebhookEvent.objects.filter(type=type).order_by("seq")]


def test_revoke_event_names_the_user_and_the_ttls(hooked):
    world = hooked
    for _ in range(2):
        refresh_token_create(user=world.user, application=world.application, now=timezone.now())
    refresh_tokens_revoke(user=world.user, reason=RevokeReason.API)
    [event] = _events("jwt.refresh-token.revoke")
    assert event["userId"] == str(world.user.pk) and event["applicationId"] == str(world.application.pk)
    ttl = (
        world.application.access_token_ttl_seconds
        if world.application.jwt_enabled
        else world.tenant.access_token_ttl_seconds
    )
    assert event["applicationTimeToLiveInSeconds"] == {str(world.application.pk): ttl}
    assert event["tenantId"] == str(world.tenant.pk) and "password" not in str(event["user"])
    refresh_tokens_revoke(user=world.user, reason=RevokeReason.API)  # nothing left to revoke: no event
    assert len(_events("jwt.refresh-token.revoke")) == 1


def test_refresh_and_reuse_events(hooked, settings):
    world = hooked
    world.application.refresh_token_usage_policy = "OneTimeUse"
    world.application.jwt_enabled = True
    world.application.save()
    world.tenant.refresh_token_usage_policy = "OneTimeUse"
    world.tenant.save()
    issued = refresh_token_create(user=world.user, application=world.application, now=timezone.now())
    refresh_grant(value=issued.value)
    [refresh] = _events("jwt.refresh")
    assert refresh["refreshTokenId"] == str(issued.token.pk) and refresh["userId"] == str(world.user.pk)
    assert issued.value not in str(WebhookEvent.objects.values_list("body", flat=True))
    with pytest.raises(Exception):  # noqa: B017 - the replay is refused
        refresh_grant(value=issued.value)
    [reuse] = _events("jwt.refresh-token.reuse")
    assert reuse["userId"] == str(world.user.pk)


def test_public_key_update_when_the_signer_changes(hooked):
    from identity.services.signing_keys import tenant_signing_key_set

    world = hooked
    key = make_signing_key(tenant=world.tenant)
    tenant_signing_key_set(tenant=world.tenant, key=key)
    [event] = _events("jwt.public-key.update")
    assert event["applicationIds"] == [str(world.application.pk)]


def test_user_and_login_events(hooked, api_client):
    world = hooked
    body = {"loginId": "ann@example.com", "applicationId": str(world.application.pk)}
    api_client.post(
        "/api/login",
        {**body, "password": "wrong password 1"},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    api_client.post(
        "/api/login",
        {**body, "password": world.password},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
        REMOTE_ADDR="198.51.100.7",
    )
    [failed] = _events("user.login.failed")
    [success] = _events("user.login.success")
    assert failed["user"]["id"] == success["user"]["id"] == str(world.user.pk)
    assert success["applicationId"] == str(world.application.pk)
    assert success["info"]["ipAddress"] == "198.51.100.7"
    from identity.services.users import user_delete, user_update

    user_update(user=world.user, first_name="Ann")
    assert _events("user.update")[-1]["user"]["firstName"] == "Ann"
    user_id = str(world.user.pk)
    user_delete(user=world.user)
    assert _events("user.delete")[-1]["user"]["id"] == user_id
