"""Reads of the audit trail and the webhook outbox (for `manage.py audit_log` and the admin)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from django.db.models import QuerySet

from identity.models import AuditEntry, Webhook


def glob_to_regex(pattern: str) -> str:
    """`signing_key.*` → `^signing_key\\..*$` (`*` any run, `?` one character, the rest literal)."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return "^" + "".join(parts) + "$"


def audit_entries(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
    actor_id: str | None = None,
    object_id: str | None = None,
) -> QuerySet[AuditEntry]:
    """Entries, oldest first, narrowed by what is given; `action` may be a glob (`signing_key.*`)."""
    entries = AuditEntry.objects.order_by("created_at", "id")
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    if action:
        if "*" in action or "?" in action:
            entries = entries.filter(action__regex=glob_to_regex(action))
        else:
            entries = entries.filter(action=action)
    if actor_id:
        entries = entries.filter(actor_id=actor_id)
    if object_id:
        entries = entries.filter(object_id=object_id)
    return entries


def webhooks() -> QuerySet[Webhook]:
    return Webhook.objects.prefetch_related("tenants").order_by("created_at")


def webhook_get(webhook_id: uuid.UUID) -> Webhook | None:
    return webhooks().filter(pk=webhook_id).first()
