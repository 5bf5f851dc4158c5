"""FusionAuth's Webhook API: `/api/webhook` and `/api/webhook/{id}` (SDK create_webhook,
retrieve_webhooks, retrieve_webhook, update_webhook, delete_webhook). Webhooks are shared
configuration, so only an API key not locked to a tenant manages them (as for signing keys)."""

from __future__ import annotations

from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from identity.authentication import APIKeyAuthentication, HasGlobalAPIKey
from identity.exceptions import NotFound
from identity.models import Webhook
from identity.selectors_events import webhook_get, webhooks
from identity.serializers.webhooks import WebhookRequestSerializer, webhook_json, webhook_values
from identity.services.webhooks import webhook_create, webhook_delete, webhook_update
from identity.views.common import parse, path_uuid


def _found(pk: str | None) -> Webhook:
    webhook = webhook_get(path_uuid(pk))
    if webhook is None:
        raise NotFound()
    return webhook


class WebhookViewSet(viewsets.ViewSet):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasGlobalAPIKey]

    def list(self, request: Request) -> Response:
        return Response({"webhooks": [webhook_json(w) for w in webhooks()]})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"webhook": webhook_json(_found(pk))})

    def create(self, request: Request, pk: str | None = None) -> Response:
        values = webhook_values(parse(WebhookRequestSerializer, request.data))
        webhook, secret = webhook_create(webhook_id=path_uuid(pk) if pk else None, **values)
        return Response({"webhook": {**webhook_json(webhook), "secret": secret}})

    def update(self, request: Request, pk: str | None = None) -> Response:
        webhook = _found(pk)
        values = webhook_values(parse(WebhookRequestSerializer, request.data))
        return Response({"webhook": webhook_json(webhook_update(webhook=webhook, **values))})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        webhook_delete(webhook=_found(pk))
        return Response(status=200)
