"""The audit trail (read-only) and webhooks in the admin console. Imported by identity.admin.

Audit entries cannot be added, changed or deleted here (only `manage.py purge_audit_log` removes
old ones). Webhooks are written through identity.services.webhooks; the signing secret is shown
once, on the page after adding, and never again. Failed deliveries can be queued again.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from identity.admin import IdentityModelAdmin, ShowOnceAdmin
from identity.forms import ServiceModelForm
from identity.models import AuditEntry, Webhook, WebhookDelivery
from identity.services.webhooks import (
    EVENT_TYPES,
    webhook_create,
    webhook_delete,
    webhook_deliveries_retry,
    webhook_update,
)


@admin.register(AuditEntry)
class AuditEntryAdmin(IdentityModelAdmin):
    list_display = (
        "created_at", "actor_kind", "actor_label", "actor_id", "action", "object_type", "object_id",
        "count", "client_ip",
    )  # fmt: skip
    list_filter = ("actor_kind", "action", "object_type", "created_at")
    search_fields = ("=actor_id", "actor_label", "=object_id", "action")
    date_hierarchy = "created_at"
    readonly_fields = tuple(f.name for f in AuditEntry._meta.fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class WebhookForm(ServiceModelForm[Webhook]):
    # Text, checked by the webhook service as the API's is: Django's URLField would add a scheme
    # the API refuses to assume (`hooks.example.com/x` saved as https://…).
    url = forms.CharField(max_length=2048)  # trimmed, as the API's serializer trims it
    events = forms.MultipleChoiceField(
        choices=[(name, name) for name in EVENT_TYPES], widget=forms.CheckboxSelectMultiple, required=False
    )
    error_fields = {
        "webhook.url": "url",
        "webhook.eventsEnabled": "events",
        "webhook.tenantIds": "tenants",
        "webhook.connectTimeout": "connect_timeout_ms",
        "webhook.readTimeout": "read_timeout_ms",
        "webhook.maxAttempts": "max_attempts",
    }
    service_fields = frozenset(
        {"url", "description", "is_global", "events", "connect_timeout_ms", "read_timeout_ms", "max_attempts"}
    )
    raw_secret: str

    class Meta:
        model = Webhook
        fields = [
            "url", "description", "is_global", "tenants", "events", "connect_timeout_ms", "read_timeout_ms",
            "max_attempts",
        ]  # fmt: skip

    def _values(self) -> dict[str, Any]:
        tenants = self.cleaned_data.get("tenants") or []
        return {**self.service_values(), "tenant_ids": [t.pk for t in tenants]}

    def create(self) -> Webhook:
        webhook, self.raw_secret = webhook_create(**self._values())
        return webhook

    def update(self, current: Webhook) -> Webhook:
        return webhook_update(webhook=current, **self._values())


@admin.register(Webhook)
class WebhookAdmin(ShowOnceAdmin):
    form = WebhookForm
    list_display = ("url", "description", "is_global", "event_list", "max_attempts", "created_at")
    list_filter = ("is_global",)
    search_fields = ("url", "description")
    filter_horizontal = ("tenants",)
    shown_once_warning = (
        "This is the only time the signing secret is shown (it is stored encrypted, to sign "
        "deliveries). Copy it into the receiver's configuration now."
    )

    @admin.display(description="events")
    def event_list(self, obj: Webhook) -> str:
        return ", ".join(obj.events)

    def shown_once(self, form: WebhookForm) -> list[tuple[str, str]]:
        return [("Signing secret", form.raw_secret)]

    def service_delete(self, obj: Webhook) -> None:
        webhook_delete(webhook=obj)


@admin.action(description="Retry the selected failed deliveries")
def retry_deliveries(
    modeladmin: WebhookDeliveryAdmin, request: HttpRequest, queryset: QuerySet[WebhookDelivery]
) -> None:
    count = webhook_deliveries_retry(deliveries=queryset)
    message = ngettext("Queued %(count)d delivery again.", "Queued %(count)d deliveries again.", count)
    modeladmin.message_user(request, message % {"count": count}, messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(IdentityModelAdmin):
    list_display = (
        "id", "event_type", "event_id", "webhook", "object_key", "status", "attempts", "last_status",
        "last_error", "next_attempt_at", "delivered_at",
    )  # fmt: skip
    list_filter = ("status", "event__type", "webhook")
    search_fields = ("=event__id", "=object_key")
    list_select_related = ("event", "webhook")
    readonly_fields = tuple(f.name for f in WebhookDelivery._meta.fields)
    actions = [retry_deliveries]

    @admin.display(description="event", ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    @admin.display(description="event id")
    def event_id(self, obj: WebhookDelivery) -> str:
        return str(obj.event.id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
