"""A URLconf for authentication tests: probe endpoints guarded exactly like the real APIs."""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.authentication import APIKeyAuthentication, HasAPIKey, HasKeyManagerAPIKey, caller_of
from identity.exceptions import ValidationFailed


class ProbeApi(APIView):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def get(self, request: Request, **kwargs: object) -> Response:
        caller = caller_of(request)
        return Response({"tenantId": str(caller.tenant().pk), "keyId": str(caller.key().pk)})

    def delete(self, request: Request, **kwargs: object) -> Response:
        return Response(status=200)

    def post(self, request: Request, **kwargs: object) -> Response:
        if not isinstance(request.data, dict) or "name" not in request.data:
            raise ValidationFailed.on_field("probe.name", "blank", "A name is required.")
        return Response({"echo": request.data["name"]})


class ManagerProbeApi(APIView):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasKeyManagerAPIKey]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    path("api/probe", ProbeApi.as_view()),
    path("api/probe/sub/<str:item>", ProbeApi.as_view()),
    path("api/probe/<str:item>", ProbeApi.as_view()),
    path("api/other", ProbeApi.as_view()),
    path("api/probes", ProbeApi.as_view()),
    path("api/manager", ManagerProbeApi.as_view()),
]
