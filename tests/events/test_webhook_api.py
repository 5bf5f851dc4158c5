"""FusionAuth's Webhook API (`/api/webhook`, `/api/webhook/{id}`): shape, secret shown once, global
API keys only, refusals that change nothing; and the official SDK's webhook calls."""

from __future__ import annotations

import uuid

import pytest
from fusionauth.fusionauth_client import FusionAuthClient

from identity.models import AuditEntry, Webhook, WebhookDelivery
from identity.services.webhooks import EVENT_TYPES, webhook_secret
from tests.factories import TenantFactory, make_api_key

pytestmark = pytest.mark.django_db


def _state() -> dict:
    return {
        "webhooks": sorted(
            Webhook.objects.values_list(
                "id", "url", "events", "is_global", "encrypted_secret", "max_attempts"
            )
        ),
        "tenants": sorted(Webhook.tenants.through.objects.values_list("webhook_id", "tenant_id")),
        "audit": AuditEntry.objects.count(),
    }


@pytest.fixture
def key() -> str:
    return make_api_key(name="webhooks")[1]


def _create(api_client, key, body, path="/api/webhook"):
    return api_client.post(path, body, format="json", HTTP_AUTHORIZATION=key)


def test_create_shows_the_secret_once_then_crud(api_client, key):
    tenant = TenantFactory()
    body = {
        "webhook": {
            "url": "https://hooks.example.com/in",
            "description": "crm",
            "eventsEnabled": {"user.create": True, "user.delete": False, "jwt.refresh": True},
            "tenantIds": [str(tenant.pk)],
            "connectTimeout": 500,
            "readTimeout": 1500,
        }
    }
    created = _create(api_client, key, body)
    assert created.status_code == 200, created.content
    hook = created.json()["webhook"]
    secret = hook.pop("secret")
    stored = Webhook.objects.get(pk=hook["id"])
    assert webhook_secret(stored) == secret and secret not in stored.encrypted_secret
    assert hook["eventsEnabled"] == {name: name in ("user.create", "jwt.refresh") for name in EVENT_TYPES}
    assert (hook["tenantIds"], hook["global"], hook["connectTimeout"], hook["readTimeout"]) == (
        [str(tenant.pk)],
        False,
        500,
        1500,
    )

    auth = {"HTTP_AUTHORIZATION": key}
    got = api_client.get(f"/api/webhook/{hook['id']}", **auth).json()["webhook"]
    assert "secret" not in got and got["url"] == "https://hooks.example.com/in"
    listed = api_client.get("/api/webhook", **auth).json()["webhooks"]
    assert [w["id"] for w in listed] == [hook["id"]] and all("secret" not in w for w in listed)

    patched = api_client.patch(
        f"/api/webhook/{hook['id']}", {"webhook": {"global": True}}, format="json", **auth
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["webhook"]["global"], patched.json()["webhook"]["tenantIds"]) == (True, [])
    assert webhook_secret(Webhook.objects.get()) == secret  # an update never changes the secret

    assert api_client.delete(f"/api/webhook/{hook['id']}", **auth).status_code == 200
    assert api_client.get(f"/api/webhook/{hook['id']}", **auth).status_code == 404
    actions = list(
        AuditEntry.objects.filter(action__startswith="webhook.")
        .order_by("id")
        .values_list("action", "actor_kind")
    )
    assert actions == [
        ("webhook.create", "api_key"),
        ("webhook.update", "api_key"),
        ("webhook.delete", "api_key"),
    ]


def test_create_with_id(api_client, key):
    wanted = uuid.uuid4()
    body = {
        "webhook": {"url": "http://127.0.0.1:9000/", "eventsEnabled": {"user.update": True}, "global": True}
    }
    assert _create(api_client, key, body, f"/api/webhook/{wanted}").json()["webhook"]["id"] == str(wanted)
    again = _create(api_client, key, body, f"/api/webhook/{wanted}")
    assert again.status_code == 400 and "[duplicate]webhookId" in again.content.decode()


HOSTILE = [
    ({"webhook": {"url": "ftp://example.com/", "global": True}}, "[invalid]webhook.url"),
    ({"webhook": {"url": "javascript:alert(1)", "global": True}}, "[invalid]webhook.url"),
    ({"webhook": {"url": "https://x.example/" + "a" * 3000, "global": True}}, "webhook.url"),
    (
        {"webhook": {"url": "https://x.example/", "global": True, "eventsEnabled": {"user.nope": True}}},
        "[invalid]webhook.eventsEnabled",
    ),
    (
        {"webhook": {"url": "https://x.example/", "global": True, "eventsEnabled": {"user.create": "yes"}}},
        "webhook.eventsEnabled",
    ),
    ({"webhook": {"url": "https://x.example/"}}, "[missing]webhook.tenantIds"),
    (
        {"webhook": {"url": "https://x.example/", "tenantIds": [str(uuid.uuid4())]}},
        "[invalid]webhook.tenantIds",
    ),
    ({"webhook": {"url": "https://x.example/", "tenantIds": ["not-a-uuid"]}}, "webhook.tenantIds"),
    ({"webhook": {"url": "https://x.example/", "global": "true"}}, "webhook.global"),
    (
        {"webhook": {"url": "https://x.example/", "global": True, "readTimeout": 0}},
        "[invalid]webhook.readTimeout",
    ),
    (
        {"webhook": {"url": "https://x.example/", "global": True, "connectTimeout": 10**9}},
        "[invalid]webhook.connectTimeout",
    ),
    ({"webhook": {"url": "https://x.example/", "global": True, "maxAttempts": -1}}, "webhook.maxAttempts"),
    ({"webhook": {"url": "https://x.example/\x00", "global": True}}, "webhook.url"),
    ({"webhook": "https://x.example/"}, "webhook"),
    ({}, "webhook"),
]


@pytest.mark.parametrize(("body", "code"), HOSTILE)
def test_hostile_input_is_refused_and_changes_nothing(api_client, key, body, code):
    TenantFactory()
    before = _state()
    response = _create(api_client, key, body)
    assert response.status_code == 400, response.content
    assert code in response.content.decode()
    assert _state() == before


def test_hostile_update_changes_nothing(api_client, key):
    body = {"webhook": {"url": "https://x.example/", "global": True, "eventsEnabled": {"user.create": True}}}
    hook = _create(api_client, key, body).json()["webhook"]
    before = _state()
    bad = {"webhook": {"url": "gopher://x", "eventsEnabled": {"x": True}}}
    response = api_client.put(f"/api/webhook/{hook['id']}", bad, format="json", HTTP_AUTHORIZATION=key)
    assert response.status_code == 400
    assert _state() == before


def test_only_global_api_keys(api_client):
    tenant = TenantFactory()
    _, locked = make_api_key(tenant=tenant, name="locked")
    body = {"webhook": {"url": "https://x.example/", "tenantIds": [str(tenant.pk)]}}
    before = _state()
    assert _create(api_client, locked, body).status_code in (401, 403)
    assert api_client.get("/api/webhook", HTTP_AUTHORIZATION=locked).status_code in (401, 403)
    assert _create(api_client, "", body).status_code == 401
    assert _state() == before


def test_unknown_or_malformed_id_is_404(api_client, key):
    for path in (f"/api/webhook/{uuid.uuid4()}", "/api/webhook/nope"):
        response = api_client.get(path, HTTP_AUTHORIZATION=key)
        assert response.status_code == 404 and response.content == b""


def test_deleting_a_webhook_drops_its_queue(api_client, key):
    tenant = TenantFactory()
    body = {
        "webhook": {
            "url": "https://x.example/",
            "tenantIds": [str(tenant.pk)],
            "eventsEnabled": {"user.update": True},
        }
    }
    hook = _create(api_client, key, body).json()["webhook"]
    from identity.services.webhooks import event_emit

    event_emit(type="user.update", tenant=tenant, payload={})
    assert WebhookDelivery.objects.count() == 1
    api_client.delete(f"/api/webhook/{hook['id']}", HTTP_AUTHORIZATION=key)
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_sdk_webhook_calls(live_server):
    _, raw = make_api_key(name="sdk")
    sdk = FusionAuthClient(raw, live_server.url)
    tenant = TenantFactory()
    created = sdk.create_webhook(
        {
            "webhook": {
                "url": "https://hooks.example.com/",
                "eventsEnabled": {"user.login.success": True},
                "tenantIds": [str(tenant.pk)],
            }
        }
    )
    assert created.status == 200, created.error_response
    hook = created.success_response["webhook"]
    assert hook["secret"]
    assert sdk.retrieve_webhook(hook["id"]).success_response["webhook"]["tenantIds"] == [str(tenant.pk)]
    assert [w["id"] for w in sdk.retrieve_webhooks().success_response["webhooks"]] == [hook["id"]]
    updated = sdk.update_webhook(hook["id"], {"webhook": {"url": "https://hooks.example.com/v2"}})
    assert updated.status == 200 and updated.success_response["webhook"]["url"].endswith("/v2")
    assert sdk.delete_webhook(hook["id"]).status == 200
    assert sdk.retrieve_webhook(hook["id"]).status == 404
