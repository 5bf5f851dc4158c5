"""The audit trail and the webhook outbox (issue 15). Imported by `identity.models`, so Django sees
them as the identity app's models; kept in their own module so the domain models stay readable.

Models hold data only: who may write what, and when, is in `identity.services.audit` and
`identity.services.webhooks`.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class ActorKind(models.TextChoices):
    CONSOLE = "console", "Console user"
    API_KEY = "api_key", "API key"
    USER = "user", "End user"
    COMMAND = "command", "Management command"
    ANONYMOUS = "anonymous", "Anonymous request"
    SYSTEM = "system", "System"


class AuditEntry(models.Model):
    """One change: who, what (a stable action code), which object, a diff of non-secret fields,
    from where, when. Append-only: nothing updates a row; only `purge_audit_log` deletes old ones."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True, help_text="API key id, user id or OS user.")
    actor_label = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. tenant.update")
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    tenant_id = models.UUIDField(null=True, blank=True, help_text="Kept as a value: entries outlive tenants.")
    diff = models.JSONField(default=dict, blank=True)
    count = models.PositiveIntegerField(null=True, blank=True, help_text="Rows affected by a mass change.")
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=("actor_kind", "actor_id"), name="audit_actor_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}".strip()


class Webhook(models.Model):
    """Where events are sent (FusionAuth's Webhook). The signing secret is stored encrypted (it must
    be usable to sign) and shown only once, when created."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    url = models.URLField(max_length=2048)
    description = models.CharField(max_length=255, blank=True)
    is_global = models.BooleanField(default=False, help_text="Events of every tenant.")
    tenants = models.ManyToManyField("identity.Tenant", blank=True, related_name="webhooks")
    events = models.JSONField(default=list, blank=True, help_text="Event types sent to this webhook.")
    connect_timeout_ms = models.PositiveIntegerField(default=1000)
    read_timeout_ms = models.PositiveIntegerField(default=2000)
    max_attempts = models.PositiveIntegerField(default=8, help_text="Attempts before a delivery is failed.")
    encrypted_secret = models.TextField(editable=False)

    class Meta:
        ordering = ("created_at",)

    def __str__(self) -> str:
        return self.description or self.url


class WebhookEvent(models.Model):
    """The outbox: one event, written in the transaction of the change it reports. `id` is the event
    id receivers use to drop duplicates; `seq` orders events."""

    seq = models.BigAutoField(primary_key=True)
    id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64)
    tenant_id = models.UUIDField(null=True, blank=True)
    object_key = models.CharField(
        max_length=64, blank=True, help_text="Events of one object keep their order."
    )
    body = models.JSONField(help_text='The whole envelope, {"event": {...}}.')
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("seq",)

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event to one webhook; claimed by `deliver_webhooks` workers with FOR UPDATE SKIP LOCKED."""

    id = models.BigAutoField(primary_key=True)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    object_key = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True, help_text="HTTP status of the last try.")
    last_error = models.CharField(max_length=255, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=("next_attempt_at",),
                name="webhook_delivery_due_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=("webhook", "object_key", "id"),
                name="webhook_delivery_order_idx",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"
