"""FusionAuth's Webhook API shape, `{"webhook": {"url", "eventsEnabled": {...}, "tenantIds"|"global"}}`,
read into `identity.services.webhooks`' keyword arguments and written back. No rules here: the
service checks URLs, event names, tenants and bounds.

Ours beyond FusionAuth: `maxAttempts` (delivery attempts before a delivery is failed), and the
create response's `secret` (the signing secret, shown that once). FusionAuth members we do not model
(`headers`, `httpAuthenticationUsername`, `sslCertificate`, `signatureConfiguration`, `data`) are
ignored.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from identity.models import Webhook
from identity.services.webhooks import EVENT_TYPES


class _Strict(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class _Whole(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class _Text(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or "\x00" in data:
            self.fail("invalid")
        return str(super().to_internal_value(data))


class WebhookSerializer(serializers.Serializer):
    url = _Text(max_length=2048, required=False)
    description = _Text(max_length=255, required=False, allow_blank=True)
    connectTimeout = _Whole(required=False, source="connect_timeout_ms")
    readTimeout = _Whole(required=False, source="read_timeout_ms")
    maxAttempts = _Whole(required=False, source="max_attempts")
    eventsEnabled = serializers.DictField(child=_Strict(), required=False, source="events_enabled")
    tenantIds = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=1000, source="tenant_ids"
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["global"] = _Strict(required=False, source="is_global")  # a Python keyword
        return fields


class WebhookRequestSerializer(serializers.Serializer):
    webhook = WebhookSerializer()


def webhook_values(data: dict[str, Any]) -> dict[str, Any]:
    """The validated `webhook` object as the service's keyword arguments (only what was sent)."""
    values = dict(data["webhook"])
    enabled = values.pop("events_enabled", None)
    if enabled is not None:
        values["events"] = [name for name, on in enabled.items() if on]
    return values


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    def instant(value: Any) -> int | None:
        return None if value is None else int(value.timestamp() * 1000)

    return {
        "id": str(webhook.pk),
        "url": webhook.url,
        "description": webhook.description,
        "connectTimeout": webhook.connect_timeout_ms,
        "readTimeout": webhook.read_timeout_ms,
        "maxAttempts": webhook.max_attempts,
        "eventsEnabled": {name: name in webhook.events for name in EVENT_TYPES},
        "global": webhook.is_global,
        "tenantIds": sorted(str(t.pk) for t in webhook.tenants.all()),
        "insertInstant": instant(webhook.created_at),
        "lastUpdateInstant": instant(webhook.updated_at),
    }
