"""The audit trail: who/what/which/diff/where per change, in the change's transaction, nothing
secret ever written (a full flow dumped and searched), read-only admin, audit_log/purge_audit_log."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from identity.audit import Actor, acting_as
from identity.models import AuditEntry, SigningKey, User, WebhookEvent
from identity.services.audit import audit_record
from identity.services.tenants import tenant_update
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory, make_api_key, make_signing_key

pytestmark = pytest.mark.django_db


def _dump() -> str:
    """Every audit entry and outbox event, as text."""
    rows = list(AuditEntry.objects.values()) + list(WebhookEvent.objects.values("body"))
    return json.dumps(rows, default=str)


def test_nothing_secret_is_ever_written(api_client, world, receiver):
    """A full flow through the API: webhook, login, refresh, key generation (HMAC), API key, user
    with a password, password change, revocations. Then no secret appears in the audit table or the
    outbox, in any form we hold it in (raw, digest, encrypted)."""
    auth = {"HTTP_AUTHORIZATION": world.api_key}
    every = {
        name: True
        for name in (
            "user.create",
            "user.update",
            "user.login.success",
            "user.login.failed",
            "jwt.refresh",
            "jwt.refresh-token.revoke",
            "jwt.public-key.update",
        )
    }
    hook = api_client.post(
        "/api/webhook",
        {"webhook": {"url": receiver.url, "eventsEnabled": every, "global": True}},
        format="json",
        **auth,
    ).json()
    secrets = [hook["webhook"]["secret"], world.api_key, world.password]
    login = api_client.post(
        "/api/login",
        {
            "loginId": "ann@example.com",
            "password": world.password,
            "applicationId": str(world.application.pk),
        },
        format="json",
        **auth,
    ).json()
    secrets += [login["token"], login["refreshToken"]]
    api_client.post(
        "/api/login",
        {
            "loginId": "ann@example.com",
            "password": "wrong guess 12345",
            "applicationId": str(world.application.pk),
        },
        format="json",
        **auth,
    )
    secrets.append("wrong guess 12345")
    refreshed = api_client.post(
        "/api/jwt/refresh", {"refreshToken": login["refreshToken"]}, format="json"
    ).json()
    secrets += [refreshed["token"], refreshed["refreshToken"]]
    hmac_key = api_client.post(
        "/api/key/generate", {"key": {"algorithm": "HS256", "name": "h"}}, format="json", **auth
    ).json()["key"]
    secrets.append(hmac_key["secret"])
    _, manager = make_api_key(name="manager", key_manager=True)
    secrets.append(manager)
    created_key = api_client.post(
        "/api/api-key",
        {"apiKey": {"metaData": {"attributes": {"description": "x"}}}},
        format="json",
        HTTP_AUTHORIZATION=manager,
    ).json()["apiKey"]
    secrets.append(created_key["key"])
    password = "a brand new password 4 bob"
    response = api_client.post(
        "/api/user",
        {"user": {"email": "bob@example.com", "password": password}, "tenantId": str(world.tenant.pk)},
        format="json",
        **auth,
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert response.status_code == 200, response.content
    secrets.append(password)
    api_client.delete(f"/api/jwt/refresh?userId={world.user.pk}", **auth)

    dump = _dump()
    stored = [u.password for u in User.objects.all()] + list(
        SigningKey.objects.values_list("encrypted_secret", flat=True)
    )
    from identity.hashing import secret_digest
    from identity.models import APIKey, RefreshToken, Webhook

    stored += list(APIKey.objects.values_list("key_digest", flat=True))
    stored += list(RefreshToken.objects.values_list("token_digest", flat=True))
    stored += list(Webhook.objects.values_list("encrypted_secret", flat=True))
    for secret in secrets + [secret_digest(s) for s in secrets] + [s for s in stored if s]:
        assert secret not in dump, secret[:12]
    for word in ("password", "digest", "encrypted", "salt", "secret"):
        assert f'"{word}' not in dump  # no key of a diff or an event names a secret
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "webhook.create",
        "signing_key.generate",
        "api_key.create",
        "user.create",
        "refresh_token.revoke_all",
    } <= actions
    types = set(WebhookEvent.objects.values_list("type", flat=True))
    assert {
        "user.login.success",
        "user.login.failed",
        "jwt.refresh",
        "user.create",
        "jwt.refresh-token.revoke",
    } <= types


def test_an_api_change_records_actor_action_object_diff_and_address(api_client, world):
    key, raw = make_api_key(name="ops")
    response = api_client.patch(
        f"/api/tenant/{world.tenant.pk}",
        {"tenant": {"name": "Renamed"}},
        format="json",
        HTTP_AUTHORIZATION=raw,
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get(action="tenant.update")
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == ("api_key", str(key.pk), "ops")
    assert (entry.object_type, entry.object_id, entry.tenant_id) == (
        "tenant",
        str(world.tenant.pk),
        world.tenant.pk,
    )
    assert entry.diff["name"][1] == "Renamed" and entry.client_ip == "203.0.113.9"


def test_a_refused_change_writes_no_entry(api_client, world):
    before = AuditEntry.objects.count()
    response = api_client.patch(
        f"/api/tenant/{world.tenant.pk}",
        {"tenant": {"name": ""}},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert response.status_code == 400
    assert AuditEntry.objects.count() == before


def test_entry_is_part_of_the_transaction():
    tenant = TenantFactory()
    before = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        tenant_update(tenant=tenant, name="Gone")
        raise RuntimeError
    assert AuditEntry.objects.count() == before


def test_mass_revocation_is_one_entry_with_the_count(world):
    from identity.services.refresh_tokens import RevokeReason, refresh_token_create, refresh_tokens_revoke

    for _ in range(3):
        refresh_token_create(user=world.user, application=world.application, now=timezone.now())
    before = AuditEntry.objects.count()
    assert refresh_tokens_revoke(user=world.user, reason=RevokeReason.API) == 3
    [entry] = AuditEntry.objects.all()[: AuditEntry.objects.count() - before]
    assert (entry.action, entry.count, entry.object_id) == ("refresh_token.revoke_all", 3, str(world.user.pk))


def test_commands_are_attributed_to_the_os_user():
    call_command(
        "create_tenant", "--name", "From the shell", "--issuer", "https://shell.example", stdout=StringIO()
    )
    entry = AuditEntry.objects.get(action="tenant.create")
    assert entry.actor_kind == "command" and entry.actor_label == "manage.py create_tenant" and entry.actor_id


def test_console_changes_are_attributed_to_the_staff_user(admin_client, staff_user):
    tenant = TenantFactory()
    response = admin_client.post(f"/admin/identity/tenant/{tenant.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="tenant.delete")
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == (
        "console",
        str(staff_user.pk),
        staff_user.email,
    )


def test_diff_keeps_only_listed_fields():
    user = UserFactory(email="c@example.com")
    entry = audit_record(
        action="user.update",
        obj=user,
        diff={"password": ["a", "b"], "email": ["x", "y"], "failed_login_count": [0, 1]},
    )
    assert entry.diff == {"email": ["x", "y"]}


def test_audit_admin_is_read_only(admin_client):
    entry = audit_record(action="tenant.update", object_type="tenant", object_id="x")
    count = AuditEntry.objects.count()
    assert (
        admin_client.get("/admin/identity/auditentry/?actor_kind=system&action=tenant.update").status_code
        == 200
    )
    assert admin_client.get("/admin/identity/auditentry/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/identity/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AuditEntry.objects.count() == count


def test_webhook_admin_shows_the_secret_once_and_retries_failed_deliveries(admin_client, receiver):
    tenant = TenantFactory()
    response = admin_client.post(
        "/admin/identity/webhook/add/",
        {
            "url": receiver.url,
            "description": "crm",
            "tenants": [str(tenant.pk)],
            "events": ["user.update"],
            "connect_timeout_ms": 500,
            "read_timeout_ms": 500,
            "max_attempts": 1,
        },
    )
    assert response.status_code == 200, response.content
    from identity.models import DeliveryStatus, Webhook, WebhookDelivery
    from identity.services.webhooks import event_emit, webhook_deliveries_send, webhook_secret

    webhook = Webhook.objects.get()
    assert webhook_secret(webhook) in response.content.decode()
    assert (
        webhook_secret(webhook)
        not in admin_client.get(f"/admin/identity/webhook/{webhook.pk}/change/").content.decode()
    )
    receiver.script.append(500)
    event_emit(type="user.update", tenant=tenant, payload={})
    webhook_deliveries_send()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    page = admin_client.get("/admin/identity/webhookdelivery/?status=failed")
    assert page.status_code == 200 and b"HTTP 500" in page.content
    admin_client.post(
        "/admin/identity/webhookdelivery/", {"action": "retry_deliveries", "_selected_action": [delivery.pk]}
    )
    webhook_deliveries_send()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


@pytest.mark.parametrize(
    "url", ["hooks.example.com/x", "ftp://hooks.example.com/", "https://", "//hooks.example.com/x"]
)
def test_the_console_refuses_a_webhook_url_the_api_refuses(admin_client, api_client, url):
    """Django's URLField saved `hooks.example.com/x` as https://hooks.example.com/x; the API
    answers 400 for it. Both now refuse, with the API's message, and nothing is written."""
    from identity.models import Webhook

    tenant = TenantFactory()
    _, key = make_api_key(name="hooks")
    answer = api_client.post(
        "/api/webhook",
        {"webhook": {"url": url, "eventsEnabled": {"user.update": True}, "tenantIds": [str(tenant.pk)]}},
        format="json",
        HTTP_AUTHORIZATION=key,
    )
    assert answer.status_code == 400, answer.content
    response = admin_client.post(
        "/admin/identity/webhook/add/",
        {"url": url, "tenants": [str(tenant.pk)], "events": ["user.update"], "connect_timeout_ms": 500,
         "read_timeout_ms": 500, "max_attempts": 1},
    )  # fmt: skip
    assert response.status_code == 200
    assert b"An http or https URL is required." in response.content
    assert not Webhook.objects.exists()


def test_audit_log_command_filters_and_json():
    old = timezone.now() - timedelta(days=400)
    with acting_as(Actor(kind="command", id="alice", label="manage.py x")):
        audit_record(action="signing_key.rotate", object_type="signingkey", object_id="k1", at=old)
        audit_record(action="signing_key.generate", object_type="signingkey", object_id="k2")
        audit_record(action="tenant.update", object_type="tenant", object_id="t1")
    out = StringIO()
    call_command("audit_log", "--action", "signing_key.*", "--json", stdout=out)
    assert [e["object"]["id"] for e in json.loads(out.getvalue())] == ["k1", "k2"]
    out = StringIO()
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    call_command("audit_log", "--since", since, "--action", "signing_key.*", "--json", stdout=out)
    assert [e["action"] for e in json.loads(out.getvalue())] == ["signing_key.generate"]
    out = StringIO()
    call_command("audit_log", "--actor", "alice", stdout=out)
    assert out.getvalue().count("command:manage.py x") == 3  # a table row each (tests/test_command_output.py)
    out = StringIO()
    call_command("audit_log", "--action", "signing_key_rotate", "--json", stdout=out)  # `_` is literal
    assert json.loads(out.getvalue()) == []


@pytest.mark.parametrize("args", [["--since", "yesterday"], ["--limit", "0"], ["--until", "2026-13-01"]])
def test_audit_log_command_refuses_bad_input(args):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("audit_log", *args, stdout=StringIO())


def test_purge_audit_log_in_batches():
    old = timezone.now() - timedelta(days=400)
    for n in range(7):
        audit_record(action="tenant.update", object_type="tenant", object_id=str(n), at=old)
    audit_record(action="tenant.update", object_type="tenant", object_id="recent")
    out = StringIO()
    call_command("purge_audit_log", "--older-than", "365", "--dry-run", stdout=out)
    assert out.getvalue().startswith("7 ") and AuditEntry.objects.count() == 8
    out = StringIO()
    call_command("purge_audit_log", "--older-than", "365", "--batch-size", "3", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"purgeable": 7, "deleted": 7}
    assert sorted(
        AuditEntry.objects.exclude(action="audit_log.purge").values_list("object_id", flat=True)
    ) == ["recent"]
    # One entry per batch, written with its delete: a purge stopped half-way keeps its record.
    counts = list(
        AuditEntry.objects.filter(action="audit_log.purge").order_by("id").values_list("count", flat=True)
    )
    assert counts == [3, 3, 1]


def test_password_is_a_secret_even_in_user_dumps():
    UserFactory(email="d@example.com", password=DEFAULT_PASSWORD)
    assert DEFAULT_PASSWORD not in _dump() and "pbkdf2" not in _dump() and "argon2" not in _dump()


def test_nothing_secret_from_the_later_services(api_client, world, receiver, admin_client):
    """The services that landed after the audit trail: personal access tokens (create, revoke, mass
    revocation), bots, OAuth clients (create, update, secret rotation, the token and revoke
    grants), login backends (create, login success and failure) and the console's unlock. One entry
    per write, the events the issue names, and again no secret in the audit table or the outbox."""
    from urllib.parse import urlencode

    from identity.hashing import secret_digest
    from identity.models import OAuthConfiguration, PersonalAccessToken
    from identity.services.login_backends import login_backend_create
    from identity.services.oauth_clients import client_secret_digest
    from identity.services.webhooks import EVENT_TYPES, webhook_create

    auth = {"HTTP_AUTHORIZATION": world.api_key}
    webhook_create(url=receiver.url, events=EVENT_TYPES, is_global=True)
    secrets: list[str] = [world.api_key, world.password]
    digests: list[str] = []

    bot = api_client.post(
        "/api/user",
        {"user": {"email": "deploy-bot@example.com", "isBot": True}},
        format="json",
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
        **auth,
    ).json()["user"]
    pat = api_client.post(
        f"/api/user/{bot['id']}/access-token", {"name": "ci", "JWTTokenExpiry": "30"}, format="json", **auth
    ).json()
    secrets.append(pat["JWTToken"])
    second = api_client.post(
        f"/api/user/{bot['id']}/access-token", {"name": "cd", "JWTTokenExpiry": "7"}, format="json", **auth
    ).json()
    secrets.append(second["JWTToken"])
    revoked = api_client.delete(f"/api/user/{bot['id']}/access-token/{pat['accessToken']['id']}", **auth)
    assert revoked.status_code == 200, revoked.content
    deactivated = api_client.delete(f"/api/user/{bot['id']}", **auth)  # ends its other PAT
    assert deactivated.status_code == 200, deactivated.content

    created = api_client.post(
        "/api/application",
        {
            "application": {
                "name": "Backend",
                "oauthConfiguration": {
                    "scopes": ["read"],
                    "enabledGrants": ["client_credentials", "refresh_token"],
                },
            }
        },
        format="json",
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
        **auth,
    ).json()["application"]
    client_id, client_secret = created["id"], created["oauthConfiguration"]["clientSecret"]
    secrets.append(client_secret)
    patched = api_client.patch(
        f"/api/application/{client_id}",
        {"application": {"oauthConfiguration": {"scopes": ["read", "write"]}}},
        format="json",
        **auth,
    )
    assert patched.status_code == 200, patched.content
    rotated = api_client.post(
        f"/api/application/{client_id}/oauth-configuration/client-secret",
        {"overlapSeconds": 60},
        format="json",
        **auth,
    ).json()["oauthConfiguration"]["clientSecret"]
    secrets.append(rotated)
    form = "application/x-www-form-urlencoded"
    grant = api_client.generic(
        "POST",
        "/oauth2/token",
        urlencode({"grant_type": "client_credentials", "client_id": client_id, "client_secret": rotated}),
        content_type=form,
    ).json()
    secrets.append(grant["access_token"])
    assert (
        api_client.generic(
            "POST",
            "/oauth2/revoke",
            urlencode({"token": grant["access_token"], "client_id": client_id, "client_secret": rotated}),
            content_type=form,
        ).status_code
        == 200
    )

    login_backend_create(application=world.application, name="portal")
    ok = api_client.post("/auth/portal/login", {"username": "ann@example.com", "password": world.password})
    assert ok.status_code == 200, ok.content
    secrets.append(ok.json()["access_token"])
    for _ in range(world.tenant.failed_login_max_attempts):
        api_client.post("/auth/portal/login", {"username": "ann@example.com", "password": "not it 12345"})
    secrets.append("not it 12345")
    world.user.refresh_from_db()
    assert world.user.locked_until is not None
    unlocked = admin_client.post(f"/admin/identity/user/{world.user.pk}/unlock/")
    assert unlocked.status_code == 302, unlocked.content

    dump = _dump()
    digests += [secret_digest(s) for s in secrets] + [client_secret_digest(s) for s in secrets]
    digests += [
        d
        for row in OAuthConfiguration.objects.values_list("client_secret_digest", "previous_secret_digest")
        for d in row
        if d
    ]
    for secret in secrets + digests:
        assert secret not in dump, secret[:12]
    for word in ("password", "digest", "encrypted", "salt", "secret"):
        assert f'"{word}' not in dump
    counts: dict[str, int] = {}
    for action in AuditEntry.objects.values_list("action", flat=True):
        counts[action] = counts.get(action, 0) + 1
    assert counts["pat.create"] == 2 and counts["pat.revoke"] == 1 and counts["pat.revoke_all"] == 1
    assert counts["oauth_client.create"] == 1 and counts["oauth_client.update"] == 1
    assert counts["oauth_client.secret_rotate"] == 1 and counts["oauth_access_token.revoke"] == 1
    assert counts["login_backend.create"] == 1 and counts["user.unlock"] == 1
    assert AuditEntry.objects.get(action="pat.revoke_all").count == 1
    assert PersonalAccessToken.objects.filter(revoked_at__isnull=True).count() == 0
    bot_entry = AuditEntry.objects.get(action="user.create", object_id=bot["id"])
    assert bot_entry.diff["is_bot"] is True
    unlock = AuditEntry.objects.get(action="user.unlock")
    assert unlock.actor_kind == "console" and unlock.diff["locked_until"][1] is None
    rotation = AuditEntry.objects.get(action="oauth_client.secret_rotate")
    assert rotation.actor_kind == "api_key" and rotation.object_id == client_id
    types = [e.body["event"] for e in WebhookEvent.objects.order_by("seq")]
    backend_logins = [e for e in types if e["type"] == "user.login.success"]
    assert backend_logins and backend_logins[-1]["applicationId"] == str(world.application.pk)
    failures = [e for e in types if e["type"] == "user.login.failed"]
    assert len(failures) == world.tenant.failed_login_max_attempts
    assert {"user.create", "user.update"} <= {e["type"] for e in types}  # DELETE deactivates


def test_purging_refresh_tokens_and_revocations_is_recorded_with_the_count(world):
    """A purge is a mass deletion: each batch is recorded with its count in the transaction that
    deletes it (so a stopped purge keeps the record of what it did), by the command."""
    from identity.services.refresh_tokens import RevokeReason, refresh_token_create, refresh_tokens_revoke
    from identity.services.revocations import token_revoke

    long_ago = timezone.now() - timedelta(days=60)
    for _ in range(3):
        refresh_token_create(user=world.user, application=world.application, now=long_ago)
    refresh_tokens_revoke(user=world.user, reason=RevokeReason.API, now=long_ago)
    token_revoke(jti="gone", tenant=None, expires_at=long_ago, kind="access_token")
    call_command("purge_refresh_tokens", "--batch-size", "1", stdout=StringIO())
    purged = list(AuditEntry.objects.filter(action__endswith=".purge").order_by("id"))
    tokens = [e.count for e in purged if e.action == "refresh_token.purge"]
    assert tokens == [1, 1, 1]  # three batches of one, each recorded
    assert [e.count for e in purged if e.action == "revoked_token.purge"] == [1]
    assert {e.actor_label for e in purged} == {"manage.py purge_refresh_tokens"}
    call_command("purge_refresh_tokens", stdout=StringIO())  # nothing left: no entry
    assert AuditEntry.objects.filter(action__endswith=".purge").count() == 4


def test_nothing_secret_from_imports_rotations_and_grants(api_client, world, receiver):
    """The secrets the two flows above do not make: a webhook secret rotated, a private key and an
    HMAC secret imported, users imported with their password hashes and salts, a vended token, a
    password changed by identity, and the OAuth2 refresh grant's tokens. Then the audit table and
    the outbox hold none of them, raw or digested, and no key of theirs names a secret."""
    import base64
    from urllib.parse import urlencode

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from identity.hashing import secret_digest
    from identity.models import Webhook
    from identity.services.oauth_clients import oauth_client_configure
    from identity.services.refresh_tokens import refresh_token_create
    from identity.services.webhooks import EVENT_TYPES, webhook_create, webhook_secret_rotate
    from tests.api.test_user_import_api import HASH, PASSWORD, SALT

    auth = {"HTTP_AUTHORIZATION": world.api_key, "HTTP_X_FUSIONAUTH_TENANTID": str(world.tenant.pk)}
    webhook, first_secret = webhook_create(url=receiver.url, events=EVENT_TYPES, is_global=True)
    secrets: list[str] = [first_secret, webhook_secret_rotate(webhook=Webhook.objects.get(pk=webhook.pk))]

    private_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    hmac_secret = base64.urlsafe_b64encode(b"an imported hmac secret of 32+ bytes!!").decode()
    for body in (
        {"name": "imported ec", "privateKey": private_pem},
        {"name": "imported hmac", "algorithm": "HS256", "secret": hmac_secret},
    ):
        answer = api_client.post("/api/key/import", {"key": body}, format="json", **auth)
        assert answer.status_code == 200, answer.content
    secrets += [private_pem, "".join(private_pem.splitlines()[1:-1]), hmac_secret]

    imported = {"email": "imp@example.com", "password": HASH, "salt": SALT, "factor": 1000,
                "encryptionScheme": "salted-pbkdf2-hmac-sha256"}  # fmt: skip
    answer = api_client.post("/api/user/import", {"users": [imported]}, format="json", **auth)
    assert answer.status_code == 200, answer.content
    secrets += [HASH, SALT, PASSWORD]

    vended = api_client.post("/api/jwt/vend", {"claims": {"sub": "svc"}}, format="json", **auth)
    assert vended.status_code == 200, vended.content
    secrets.append(vended.json()["token"])

    new_password = "a changed passphrase 8"
    changed = api_client.post(
        "/api/user/change-password",
        {"loginId": world.user.email, "currentPassword": world.password, "password": new_password},
        format="json",
        **auth,
    )
    assert changed.status_code == 200, changed.content
    secrets.append(new_password)

    client_secret = oauth_client_configure(
        application=world.application, enabled_grants=["client_credentials", "refresh_token"]
    ).client_secret
    issued = refresh_token_create(user=world.user, application=world.application, now=timezone.now())
    granted = api_client.generic(
        "POST",
        "/oauth2/token",
        urlencode(
            {
                "grant_type": "refresh_token",
                "refresh_token": issued.value,
                "client_id": str(world.application.pk),
                "client_secret": client_secret,
            }
        ),
        content_type="application/x-www-form-urlencoded",
    )
    assert granted.status_code == 200, granted.content
    secrets += [client_secret, issued.value, granted.json()["access_token"], granted.json()["refresh_token"]]

    dump = _dump()
    for secret in secrets + [secret_digest(s) for s in secrets]:
        assert secret not in dump, secret[:12]
    for word in ("password", "digest", "encrypted", "salt", "secret", "privateKey", "private_key"):
        assert f'"{word}' not in dump
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"webhook.create", "webhook.secret_rotate", "signing_key.import", "user.import"} <= actions
    assert {"user.password_change", "oauth_client.create"} <= actions


def test_the_later_services_commands_write_one_entry_per_change_as_the_command(world):
    """The commands of the services that came after the audit trail (personal access tokens,
    OAuth client secrets, key rotation and deletion) each record their changes, attributed to the
    command run by the operating-system user, never to whoever ran something before."""
    from identity.services.oauth_clients import oauth_client_configure

    oauth_client_configure(application=world.application)
    make_signing_key(tenant=world.tenant, name="spare")
    spare = SigningKey.objects.get(name="spare")
    runs = [
        (
            "create_access_token",
            ["--user", world.user.email, "--name", "ci", "--expiry", "30"],
            ["pat.create"],
        ),
        ("revoke_access_token", ["--user", world.user.email, "--name", "ci"], ["pat.revoke"]),
        (
            "rotate_client_secret",
            ["--tenant", str(world.tenant.pk), "--application", str(world.application.pk)],
            ["oauth_client.secret_rotate"],
        ),
        (
            "rotate_signing_key",
            ["--tenant", str(world.tenant.pk), "--algorithm", "ES256"],
            ["signing_key.generate", "tenant.update", "signing_key.rotate"],
        ),
        ("delete_signing_key", [str(spare.pk)], ["signing_key.delete"]),
    ]
    for command, args, actions in runs:
        last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        call_command(command, *args, stdout=StringIO())
        entries = list(AuditEntry.objects.filter(id__gt=last).order_by("id"))
        assert [e.action for e in entries] == actions, (command, [e.action for e in entries])
        for entry in entries:
            assert (entry.actor_kind, entry.actor_label) == ("command", f"manage.py {command}")
            assert entry.actor_id  # the operating-system user
