"""The JWT API: `/api/jwt/validate`, `/api/jwt/issue`, `/api/jwt/vend`, `/api/jwt/reconcile`."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django.utils.decorators import method_decorator
from rest_framework import serializers, viewsets
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from identity.authentication import (
    AccessTokenAuthentication,
    AnonymousCaller,
    APIKeyAuthentication,
    HasAPIKey,
    TokenPrincipal,
    caller_of,
)
from identity.caller import TENANT_META, Caller
from identity.cookies import ACCESS_COOKIE, REFRESH_COOKIE, token_cookie
from identity.exceptions import NotAuthenticated
from identity.http_cache import never_cache
from identity.services.jwt import jwt_issue, jwt_reconcile, jwt_validate, jwt_vend
from identity.signing import MAX_TOKEN_BYTES
from identity.views.common import parse
from identity.views.tokens import MetaDataSerializer, device_info, login_response, token_response


class VendInputSerializer(serializers.Serializer):
    claims = serializers.JSONField(required=False, default=dict)
    keyId = serializers.UUIDField(required=False, allow_null=True)
    timeToLiveInSeconds = serializers.IntegerField(required=False, min_value=1, max_value=315_360_000)


class ReconcileTokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=MAX_TOKEN_BYTES)


# A field named `data` would shadow Serializer.data, so the fields are given as a mapping.
ReconcileInputSerializer: type[serializers.Serializer] = type(
    "ReconcileInputSerializer",
    (serializers.Serializer,),
    {
        "applicationId": serializers.UUIDField(),
        "identityProviderId": serializers.UUIDField(),
        "data": ReconcileTokenSerializer(required=False),
        "encodedJWT": serializers.CharField(
            required=False, max_length=MAX_TOKEN_BYTES
        ),  # FusionAuth's legacy name
        "ipAddress": serializers.IPAddressField(required=False, allow_blank=True),
        "metaData": MetaDataSerializer(required=False),
    },
)


class IsUser(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, TokenPrincipal)


def validated_token(request: Request | HttpRequest, *, tenant_id: uuid.UUID | None) -> dict[str, Any]:
    """The validate action: the presented token's claims and kind, for the caller's tenant."""
    token = presented_token(request)
    if not token:
        raise NotAuthenticated()
    validated = jwt_validate(
        token=token, now=timezone.now(), tenant_id=tenant_id, address=request.META.get("REMOTE_ADDR")
    )
    return {"jwt": validated.claims, "tokenKind": validated.kind.value}


def validate_plain_get(request: HttpRequest) -> dict[str, Any]:
    """validate for lean_get: the caller its AnonymousCaller authenticator would build."""
    return validated_token(request, tenant_id=Caller.build(header=request.META.get(TENANT_META)).tenant_id)


def presented_token(request: Request | HttpRequest) -> str:
    """The JWT of `Authorization: Bearer …` (or the legacy `JWT …`), else the access_token cookie."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if scheme.lower() in ("bearer", "jwt") and value.strip():
        return value.strip()
    return request.COOKIES.get(ACCESS_COOKIE, "")


@method_decorator(never_cache, name="dispatch")
class JWTViewSet(viewsets.ViewSet):
    """Each action parses, calls one service and serializes. Authentication differs per action:
    validate and reconcile take none but the token itself, issue takes a user access token, vend an
    API key."""

    throttle_scope = {"reconcile": "reconcile"}

    def get_authenticators(self) -> list[Any]:
        action = self.action_map.get((self.request.method or "").lower())
        if action == "issue":
            return [AccessTokenAuthentication(accept_personal_access_tokens=False)]
        if action == "vend":
            return [APIKeyAuthentication()]
        return [AnonymousCaller()]

    def get_permissions(self) -> list[BasePermission]:
        if self.action == "issue":
            return [IsUser()]
        if self.action == "vend":
            return [HasAPIKey()]
        return [AllowAny()]

    def validate(self, request: Request) -> Response:
        return Response(validated_token(request, tenant_id=caller_of(request).tenant_id))

    def issue(self, request: Request) -> HttpResponseBase:
        principal = request.user
        assert isinstance(principal, TokenPrincipal)  # noqa: S101 - guaranteed by IsUser
        issued = jwt_issue(
            verified=principal.token,
            application_id=request.query_params.get("applicationId"),
            refresh_value=token_cookie(request, REFRESH_COOKIE) or request.query_params.get("refreshToken"),
        )
        return token_response(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            refresh_token_value=issued.refresh_token_value,
            status=200 if issued.registered else 202,
        )

    def vend(self, request: Request) -> Response:
        data = parse(VendInputSerializer, request.data)
        token = jwt_vend(
            caller=caller_of(request),
            claims=data["claims"],
            key_id=data.get("keyId"),
            ttl_seconds=data.get("timeToLiveInSeconds"),
        )
        return Response({"token": token})

    def reconcile(self, request: Request) -> HttpResponseBase:
        data = parse(ReconcileInputSerializer, request.data)
        token = (data.get("data") or {}).get("token") or data.get("encodedJWT")
        if not token:
            raise NotAuthenticated()
        result = jwt_reconcile(
            application_id=data["applicationId"],
            provider_id=data["identityProviderId"],
            token=token,
            device=device_info(request, data),
        )
        return login_response(result)
