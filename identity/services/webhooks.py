"""Webhooks: FusionAuth's event envelope written to an outbox, delivered after commit.

- `event_emit(type=..., tenant=..., payload=...)` is called by the writing services inside their
  transaction. It writes one `WebhookEvent` (the whole `{"event": {...}}` envelope, with a fresh
  event id) and one pending `WebhookDelivery` per webhook that wants the type for that tenant; with
  no such webhook it writes nothing. A rolled-back change therefore never reaches a receiver, and
  the API call never waits on one.
- `manage.py deliver_webhooks` calls `webhook_deliveries_send` in a loop: a batch of due deliveries
  claimed with `SELECT ... FOR UPDATE SKIP LOCKED` (so several workers share the work), only the
  oldest pending delivery of each (webhook, object) so one object's events keep their order, each
  POSTed signed with the webhook's secret. A 2xx is delivered; anything else is retried with
  exponential back-off and jitter until `max_attempts`, then failed (the admin can retry it). A
  worker killed mid-batch rolls its transaction back: those deliveries are sent again with the same
  event ids (at-least-once; receivers drop duplicates by `event.id`).

Signature: `X-Identity-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
Event bodies never hold secrets: FusionAuth's `jwt.refresh` carries the new JWT and the refresh token
itself; ours carries their ids only (an outbox row is stored data, and secrets are stored only as
digests).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import random
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from identity import app_settings
from identity.audit import current_actor
from identity.exceptions import ValidationFailed
from identity.hashing import new_secret
from identity.key_encryption import decrypt_secret, encrypt_secret, encrypted_under_current_key
from identity.key_store import Coherent
from identity.models import (
    Application,
    DeliveryStatus,
    Tenant,
    User,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)
from identity.services.audit import audit_changes, audit_record, audit_snapshot

EVENT_TYPES: tuple[str, ...] = (
    "jwt.public-key.update",
    "jwt.refresh",
    "jwt.refresh-token.revoke",
    "jwt.refresh-token.reuse",
    "user.create",
    "user.delete",
    "user.login.failed",
    "user.login.success",
    "user.update",
)

SIGNATURE_HEADER = "X-Identity-Signature"
MAX_URL_LENGTH = 2048
MAX_TIMEOUT_MS = 60_000
MAX_ATTEMPTS = 50


# ---------------------------------------------------------------------------------------------
# Emitting (inside the caller's transaction)


def _tenant_id(tenant: Tenant | uuid.UUID | str | None) -> uuid.UUID | None:
    if tenant is None:
        return None
    if isinstance(tenant, Tenant):
        return tenant.pk
    return tenant if isinstance(tenant, uuid.UUID) else uuid.UUID(str(tenant))


def _instant(value: datetime) -> int:
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class Subscription:
    webhook_id: uuid.UUID
    is_global: bool
    tenant_ids: frozenset[uuid.UUID]
    events: frozenset[str]


def _subscriptions() -> tuple[Subscription, ...]:
    rows = Webhook.objects.prefetch_related("tenants").only("id", "is_global", "events")
    return tuple(
        Subscription(
            webhook_id=w.pk,
            is_global=w.is_global,
            tenant_ids=frozenset(t.pk for t in w.tenants.all()),
            events=frozenset(w.events),
        )
        for w in rows
    )


SUBSCRIPTIONS: Coherent[tuple[Subscription, ...]] = Coherent("webhooks", _subscriptions)
"""Which webhook wants which event, in memory: a login or refresh with no webhook listening costs
no query (identity.key_store's channel; the webhook services invalidate it)."""


def event_wanted(*, type: str, tenant: Tenant | uuid.UUID | str | None) -> bool:
    """Whether some webhook of `tenant` (or a global one) listens for `type`: what a caller that
    writes without a transaction of its own asks first (no query; the same snapshot event_emit
    reads)."""
    tenant_id = _tenant_id(tenant)
    return any(
        type in sub.events and (sub.is_global or tenant_id in sub.tenant_ids) for sub in SUBSCRIPTIONS.get()
    )


def event_emit(
    *,
    type: str,
    tenant: Tenant | uuid.UUID | str | None,
    payload: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
    object_key: Any = None,
) -> WebhookEvent | None:
    """Queue one event for every webhook of `tenant` (or global) that enabled `type`. Returns the
    outbox row, or None when no webhook wants it (then nothing is written). `payload` may be a
    function that builds it: the hot paths (every refresh, every login) then build nothing when no
    webhook listens, which is the usual case."""
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {type!r}")
    tenant_id = _tenant_id(tenant)
    targets = [
        sub.webhook_id
        for sub in SUBSCRIPTIONS.get()
        if type in sub.events and (sub.is_global or tenant_id in sub.tenant_ids)
    ]
    if not targets:
        return None
    now = timezone.now()
    event_id = uuid.uuid4()
    actor = current_actor()
    info: dict[str, Any] = {"ipAddress": actor.ip} if actor.ip else {}
    body = {
        "event": {
            **(payload() if callable(payload) else payload),
            "id": str(event_id),
            "type": type,
            "createInstant": _instant(now),
            "tenantId": str(tenant_id) if tenant_id is not None else None,
            "info": info,
        }
    }
    key = str(object_key if object_key is not None else "")[:64]
    with transaction.atomic(savepoint=False):  # the caller's transaction, or one of its own
        event = WebhookEvent.objects.create(
            id=event_id, type=type, tenant_id=tenant_id, object_key=key, body=body, created_at=now
        )
        WebhookDelivery.objects.bulk_create(
            WebhookDelivery(webhook_id=pk, event=event, object_key=key, next_attempt_at=now) for pk in targets
        )
    return event


def user_event_json(user: User) -> dict[str, Any]:
    """The user as an event carries it: profile fields only (no password hash, no lockout state)."""
    return {
        "id": str(user.pk),
        "tenantId": str(user.tenant_id),
        "email": user.email,
        "username": user.username,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "fullName": user.full_name,
        "active": user.is_active,
        "verified": user.verified,
        "insertInstant": _instant(user.created_at) if user.created_at else None,
    }


def user_event_emit(*, type: str, user: User, **extra: Any) -> WebhookEvent | None:
    """`user.create`, `user.update`, `user.delete`, `user.login.success`, `user.login.failed`."""
    return event_emit(
        type=type,
        tenant=user.tenant_id,
        payload=lambda: {"user": user_event_json(user), **extra},
        object_key=user.pk,
    )


# ---------------------------------------------------------------------------------------------
# Webhook configuration (API and admin)


def _check(
    *,
    url: str,
    is_global: bool,
    tenant_ids: Iterable[uuid.UUID],
    events: Iterable[str],
    connect_timeout_ms: int,
    read_timeout_ms: int,
    max_attempts: int,
) -> tuple[list[uuid.UUID], list[str]]:
    errors = ValidationFailed()
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL_LENGTH:
        errors.add("webhook.url", "invalid", "An http or https URL is required.")
    wanted = sorted(set(events))
    unknown = [e for e in wanted if e not in EVENT_TYPES]
    if unknown:
        errors.add("webhook.eventsEnabled", "invalid", f"Unknown event types: {', '.join(unknown)}.")
    for name, value in (("connectTimeout", connect_timeout_ms), ("readTimeout", read_timeout_ms)):
        if not 1 <= value <= MAX_TIMEOUT_MS:
            errors.add(f"webhook.{name}", "invalid", f"Between 1 and {MAX_TIMEOUT_MS} milliseconds.")
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        errors.add("webhook.maxAttempts", "invalid", f"Between 1 and {MAX_ATTEMPTS}.")
    ids = sorted(set(tenant_ids))
    if is_global and ids:
        errors.add("webhook.tenantIds", "invalid", "A global webhook names no tenants.")
    if not is_global and not ids:
        errors.add("webhook.tenantIds", "missing", "Name the tenants, or make the webhook global.")
    if ids and Tenant.objects.filter(pk__in=ids).count() != len(ids):
        errors.add("webhook.tenantIds", "invalid", "A tenant id names no tenant.")
    if errors:
        raise errors
    return ids, wanted


def _secret_data(webhook_id: uuid.UUID) -> bytes:
    return f"webhook:{webhook_id}".encode("ascii")


def _seal(secret: str, webhook_id: uuid.UUID) -> str:
    return encrypt_secret(secret.encode("ascii"), associated_data=_secret_data(webhook_id))


def webhook_secret(webhook: Webhook) -> str:
    """The signing secret, decrypted for signing (never shown)."""
    return decrypt_secret(webhook.encrypted_secret, associated_data=_secret_data(webhook.pk)).decode("ascii")


@transaction.atomic
def webhooks_reencrypt(*, batch_size: int = 200) -> Iterator[Webhook]:
    """Re-encrypt every webhook secret not yet under the current key-encryption key, yielding each
    one done (`rotate_key_encryption_key` runs this after `signing_keys_reencrypt`: without it, a
    dropped old key would leave every webhook unable to sign). Each its own transaction under a row
    lock, with its audit entry; an interrupted run is simply started again."""
    pending = Webhook.objects.values_list("pk", flat=True)
    for webhook_id in list(pending.iterator(chunk_size=batch_size)):
        with transaction.atomic():
            webhook = Webhook.objects.select_for_update().filter(pk=webhook_id).first()
            if webhook is None or encrypted_under_current_key(webhook.encrypted_secret):
                continue
            webhook.encrypted_secret = _seal(webhook_secret(webhook), webhook.pk)
            webhook.save(update_fields=["encrypted_secret", "updated_at"])
            audit_record(action="webhook.reencrypt", obj=webhook, diff={})
        yield webhook


def webhook_create(
    *,
    url: str = "",
    events: Iterable[str] = (),
    is_global: bool = False,
    tenant_ids: Iterable[uuid.UUID] = (),
    description: str = "",
    connect_timeout_ms: int = 1000,
    read_timeout_ms: int = 2000,
    max_attempts: int = 8,
    webhook_id: uuid.UUID | None = None,
) -> tuple[Webhook, str]:
    """A webhook and its signing secret; the secret is returned here once and never again."""
    ids, wanted = _check(
        url=url,
        is_global=is_global,
        tenant_ids=tenant_ids,
        events=events,
        connect_timeout_ms=connect_timeout_ms,
        read_timeout_ms=read_timeout_ms,
        max_attempts=max_attempts,
    )
    pk = webhook_id or uuid.uuid4()
    if Webhook.objects.filter(pk=pk).exists():
        raise ValidationFailed.on_field("webhookId", "duplicate", "A webhook with this id exists.")
    secret = new_secret()
    webhook = Webhook.objects.create(
        id=pk,
        url=url,
        description=description,
        is_global=is_global,
        events=wanted,
        connect_timeout_ms=connect_timeout_ms,
        read_timeout_ms=read_timeout_ms,
        max_attempts=max_attempts,
        encrypted_secret=_seal(secret, pk),
    )
    webhook.tenants.set(Tenant.objects.filter(pk__in=ids))
    SUBSCRIPTIONS.invalidate()
    audit_record(action="webhook.create", obj=webhook, diff={**audit_snapshot(webhook), "tenant_ids": ids})
    return webhook, secret


WEBHOOK_FIELDS = frozenset(
    {"url", "events", "is_global", "tenant_ids", "description", "connect_timeout_ms", "read_timeout_ms",
     "max_attempts"}
)  # fmt: skip


@transaction.atomic
def webhook_update(*, webhook: Webhook, **changes: Any) -> Webhook:
    """Change what is given (the secret is changed only by webhook_secret_rotate)."""
    unknown = set(changes) - WEBHOOK_FIELDS
    if unknown:
        raise TypeError(f"Unknown webhook fields: {', '.join(sorted(unknown))}")
    before = audit_snapshot(webhook)
    current_ids = sorted(webhook.tenants.values_list("id", flat=True))
    values = {
        "url": webhook.url,
        "events": webhook.events,
        "is_global": webhook.is_global,
        "tenant_ids": current_ids,
        "connect_timeout_ms": webhook.connect_timeout_ms,
        "read_timeout_ms": webhook.read_timeout_ms,
        "max_attempts": webhook.max_attempts,
        **{k: v for k, v in changes.items() if k != "description"},
    }
    if changes.get("is_global") and "tenant_ids" not in changes:
        values["tenant_ids"] = []
    ids, wanted = _check(**values)
    for name in ("url", "is_global", "connect_timeout_ms", "read_timeout_ms", "max_attempts"):
        setattr(webhook, name, values[name])
    webhook.events = wanted
    if "description" in changes:
        webhook.description = changes["description"]
    webhook.save()
    webhook.tenants.set(Tenant.objects.filter(pk__in=ids))
    SUBSCRIPTIONS.invalidate()
    diff: dict[str, Any] = audit_changes(before, webhook)
    if [str(i) for i in ids] != [str(i) for i in current_ids]:
        diff["tenant_ids"] = [current_ids, ids]
    audit_record(action="webhook.update", obj=webhook, diff=diff)
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook) -> None:
    """Delete the webhook and its undelivered deliveries."""
    audit_record(action="webhook.delete", obj=webhook, diff=audit_snapshot(webhook))
    webhook.delete()
    SUBSCRIPTIONS.invalidate()


@transaction.atomic
def webhook_secret_rotate(*, webhook: Webhook) -> str:
    """A new signing secret, returned once; the old one stops signing at once."""
    secret = new_secret()
    webhook.encrypted_secret = _seal(secret, webhook.pk)
    webhook.save(update_fields=["encrypted_secret", "updated_at"])
    audit_record(action="webhook.secret_rotate", obj=webhook)
    return secret


@transaction.atomic
def webhook_deliveries_retry(*, deliveries: QuerySet[WebhookDelivery]) -> int:
    """Put failed deliveries back in the queue with a fresh attempt budget."""
    count = deliveries.filter(status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error=""
    )
    audit_record(action="webhook_delivery.retry", object_type="webhookdelivery", count=count)
    return count


# ---------------------------------------------------------------------------------------------
# Delivering (manage.py deliver_webhooks)


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Identity-Signature` value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event_body_bytes(event: WebhookEvent) -> bytes:
    return json.dumps(event.body, separators=(",", ":"), sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Sender = Callable[[Webhook, bytes, dict[str, str]], Outcome]


def http_post(webhook: Webhook, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST with the webhook's connect and read timeouts; redirects are not followed."""
    parts = urlsplit(webhook.url)
    connect = webhook.connect_timeout_ms / 1000
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=connect, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=connect)
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(webhook.read_timeout_ms / 1000)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(65_536)
        return Outcome(status=response.status)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(status=None, error=f"{type(exc).__name__}: {exc}"[:255])
    finally:
        conn.close()


def backoff_seconds(attempts: int) -> float:
    """Exponential back-off with jitter: base * 2^(attempts-1), capped, then 50-100 % of it."""
    base = app_settings.webhook_backoff_base_seconds()
    cap = app_settings.webhook_backoff_max_seconds()
    delay = min(cap, base * 2 ** max(attempts - 1, 0))
    return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


def _due(now: datetime) -> QuerySet[WebhookDelivery]:
    earlier = WebhookDelivery.objects.filter(
        webhook_id=OuterRef("webhook_id"),
        object_key=OuterRef("object_key"),
        status=DeliveryStatus.PENDING,
        id__lt=OuterRef("id"),
    )
    return (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .exclude(Exists(earlier))
        .order_by("id")
    )


def _attempt(delivery: WebhookDelivery, *, send: Sender, now: datetime) -> None:
    webhook = delivery.webhook
    body = event_body_bytes(delivery.event)
    secret = webhook_secret(webhook)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "identity-webhooks/1",
        "X-Identity-Event-Id": str(delivery.event.id),
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=int(time.time()), body=body),
    }
    outcome = send(webhook, body, headers)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status = outcome.status
    if outcome.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.last_error = ""
    else:
        delivery.last_error = outcome.error or f"HTTP {outcome.status}"
        if delivery.attempts >= webhook.max_attempts:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.next_attempt_at = now + timedelta(seconds=backoff_seconds(delivery.attempts))
    delivery.save(
        update_fields=[
            "attempts", "last_attempt_at", "last_status", "status", "delivered_at", "last_error",
            "next_attempt_at",
        ]
    )  # fmt: skip


def webhook_deliveries_send(
    *, batch_size: int = 20, send: Sender = http_post, now: datetime | None = None
) -> int:
    """Claim and send one batch of due deliveries; returns how many were attempted (0: none due).

    The batch's rows stay locked until its transaction commits, so other workers skip them; a worker
    that dies mid-batch leaves them pending (the transaction rolls back) for the next one."""
    with transaction.atomic():
        now = now or timezone.now()
        claimed = list(
            _due(now)
            .select_related("webhook", "event")
            .select_for_update(skip_locked=True, of=("self",))[:batch_size]
        )
        for delivery in claimed:
            _attempt(delivery, send=send, now=now)
    return len(claimed)


# ---------------------------------------------------------------------------------------------
# Events of the token services (one call each from the writing service)


def _ttls(application_ids: Iterable[Any]) -> dict[str, int]:
    """FusionAuth's applicationTimeToLiveInSeconds: each application's access-token lifetime."""
    apps = Application.objects.filter(pk__in=set(application_ids)).select_related("tenant")
    return {
        str(a.pk): (a.access_token_ttl_seconds if a.jwt_enabled else a.tenant.access_token_ttl_seconds)
        for a in apps
    }


def refresh_tokens_revoked_emit(
    *,
    affected: list[tuple[Any, Any, Any]],
    user: User | None = None,
    application: Application | None = None,
    reuse: bool = False,
) -> None:
    """`jwt.refresh-token.revoke` (and `jwt.refresh-token.reuse` when a replay revoked a family),
    one per tenant touched. `affected`: (tenant id, application id, user id) of the revoked rows."""
    by_tenant: dict[Any, list[tuple[Any, Any, Any]]] = {}
    for row in affected:
        by_tenant.setdefault(row[0], []).append(row)
    for tenant_id, rows in by_tenant.items():
        users = {str(r[2]) for r in rows}
        payload: dict[str, Any] = {"applicationTimeToLiveInSeconds": _ttls(r[1] for r in rows)}
        if application is not None:
            payload["applicationId"] = str(application.pk)
        elif len({r[1] for r in rows}) == 1:
            payload["applicationId"] = str(rows[0][1])
        if user is not None:
            payload.update(userId=str(user.pk), user=user_event_json(user))
        elif len(users) == 1:
            payload["userId"] = next(iter(users))
        key = payload.get("userId") or payload.get("applicationId") or ""
        event_emit(type="jwt.refresh-token.revoke", tenant=tenant_id, payload=payload, object_key=key)
        if reuse:
            event_emit(type="jwt.refresh-token.reuse", tenant=tenant_id, payload=payload, object_key=key)


def public_key_update_emit(*, tenant: Tenant | None, application: Application | None = None) -> None:
    """`jwt.public-key.update`: the signing configuration of these applications changed."""
    if application is not None:
        ids = [str(application.pk)]
        tenant_id: Any = application.tenant_id
    elif tenant is not None:
        ids = [str(pk) for pk in Application.objects.filter(tenant=tenant).values_list("pk", flat=True)]
        tenant_id = tenant.pk
    else:
        return
    event_emit(
        type="jwt.public-key.update",
        tenant=tenant_id,
        payload={"applicationIds": sorted(ids)},
        object_key=f"keys:{tenant_id}",
    )


def refresh_emit(*, token: Any) -> None:
    """`jwt.refresh`: a refresh token was used. Ids only (FusionAuth also sends the new JWT and the
    refresh token itself; an outbox row is stored data, so ours carries no token)."""
    event_emit(
        type="jwt.refresh",
        tenant=token.tenant_id,
        payload=lambda: {
            "applicationId": str(token.application_id),
            "userId": str(token.user_id),
            "refreshTokenId": str(token.pk),
        },
        object_key=token.user_id,
    )
