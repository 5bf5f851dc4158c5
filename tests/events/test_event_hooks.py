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


# --- The doors added after the events: each emits what the original doors emit ----------------------

FORM = "application/x-www-form-urlencoded"


def _one_time_use(world) -> None:
    world.application.refresh_token_usage_policy = "OneTimeUse"
    world.application.jwt_enabled = True
    world.application.save()
    world.tenant.refresh_token_usage_policy = "OneTimeUse"
    world.tenant.save()


def _oauth_client(world) -> dict[str, str]:
    from identity.services.oauth_clients import oauth_client_configure

    secret = oauth_client_configure(
        application=world.application, enabled_grants=["client_credentials", "refresh_token"]
    ).client_secret
    return {"client_id": str(world.application.pk), "client_secret": secret}


def test_oauth_refresh_grant_emits_refresh_and_on_replay_reuse_and_revoke(hooked, api_client):
    from urllib.parse import urlencode

    world = hooked
    _one_time_use(world)
    client = _oauth_client(world)
    issued = refresh_token_create(user=world.user, application=world.application, now=timezone.now())
    body = urlencode({"grant_type": "refresh_token", "refresh_token": issued.value, **client})
    granted = api_client.generic("POST", "/oauth2/token", body, content_type=FORM)
    assert granted.status_code == 200, granted.content
    [refresh] = _events("jwt.refresh")
    assert refresh["refreshTokenId"] == str(issued.token.pk) and refresh["userId"] == str(world.user.pk)
    replayed = api_client.generic("POST", "/oauth2/token", body, content_type=FORM)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    [reuse] = _events("jwt.refresh-token.reuse")
    [revoke] = _events("jwt.refresh-token.revoke")
    assert reuse["userId"] == revoke["userId"] == str(world.user.pk)
    assert revoke["applicationId"] == str(world.application.pk)
    dump = str(WebhookEvent.objects.values_list("body", flat=True))
    assert issued.value not in dump and granted.json()["refresh_token"] not in dump


def test_oauth_revoke_of_a_refresh_token_emits_revoke(hooked, api_client):
    from urllib.parse import urlencode

    world = hooked
    client = _oauth_client(world)
    issued = refresh_token_create(user=world.user, application=world.application, now=timezone.now())
    answer = api_client.generic(
        "POST", "/oauth2/revoke", urlencode({"token": issued.value, **client}), content_type=FORM
    )
    assert answer.status_code == 200
    [event] = _events("jwt.refresh-token.revoke")
    assert event["userId"] == str(world.user.pk) and event["applicationId"] == str(world.application.pk)


def test_login_backend_emits_login_success_and_failure(hooked, api_client):
    from identity.services.login_backends import login_backend_create

    world = hooked
    login_backend_create(application=world.application, name="portal")
    wrong = api_client.post("/auth/portal/login", {"username": "ann@example.com", "password": "not it 1234"})
    assert wrong.status_code == 400
    right = api_client.post("/auth/portal/login", {"username": "ann@example.com", "password": world.password})
    assert right.status_code == 200, right.content
    [failed] = _events("user.login.failed")
    [success] = _events("user.login.success")
    assert failed["user"]["id"] == success["user"]["id"] == str(world.user.pk)
    assert success["applicationId"] == str(world.application.pk)
    assert right.json()["access_token"] not in str(WebhookEvent.objects.values_list("body", flat=True))


def test_a_session_limit_eviction_emits_revoke(hooked):
    world = hooked
    world.tenant.refresh_token_limit_per_user = 1
    world.tenant.save()
    first = refresh_token_create(user=world.user, application=world.application, now=timezone.now())
    refresh_token_create(user=world.user, application=world.application, now=timezone.now())
    first.token.refresh_from_db()
    assert first.token.revoked_at is not None
    [event] = _events("jwt.refresh-token.revoke")
    assert event["userId"] == str(world.user.pk) and event["applicationId"] == str(world.application.pk)


def test_public_key_update_on_rotation_and_on_an_applications_own_signer(hooked):
    from identity.services.applications import application_update
    from identity.services.signing_keys import signing_key_rotate

    world = hooked
    signing_key_rotate(tenant=world.tenant, algorithm="ES256", name="next")
    [rotated] = _events("jwt.public-key.update")
    assert rotated["applicationIds"] == [str(world.application.pk)]
    own = make_signing_key(tenant=world.tenant, name="portal's own")
    application_update(application=world.application, jwt_enabled=True, access_token_signing_key=own)
    assert _events("jwt.public-key.update")[-1]["applicationIds"] == [str(world.application.pk)]
    assert len(_events("jwt.public-key.update")) == 2


@pytest.mark.parametrize("wanted", [True, False], ids=["listened-to", "not-listened-to"])
def test_a_payload_function_runs_only_when_a_webhook_wants_the_event(world, receiver, wanted):
    """Every refresh and login emits an event; with no webhook listening, its payload is not even
    built (the hot paths pass a function)."""
    from identity.services.webhooks import event_emit

    if wanted:
        webhook_create(url=receiver.url, events=["jwt.refresh"], tenant_ids=[world.tenant.pk])
    calls: list[int] = []

    def payload() -> dict[str, str]:
        calls.append(1)
        return {"userId": str(world.user.pk)}

    event = event_emit(type="jwt.refresh", tenant=world.tenant.pk, payload=payload)
    assert calls == ([1] if wanted else [])
    assert (event is not None) is wanted
    assert [e["userId"] for e in _events("jwt.refresh")] == ([str(world.user.pk)] if wanted else [])
