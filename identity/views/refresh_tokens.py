"""`/api/jwt/refresh`: exchange a refresh token, and retrieve or revoke refresh tokens."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import method_decorator
from rest_framework import serializers, viewsets
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from identity.authentication import (
    AccessTokenAuthentication,
    AnonymousCaller,
    APIKeyAuthentication,
    HasAPIKey,
    HasAPIKeyOrUserToken,
    caller_of,
)
from identity.caller import TENANT_META, Caller
from identity.cookies import REFRESH_COOKIE, request_not_forgeable, token_cookie
from identity.exceptions import ValidationFailed
from identity.http_cache import never_cache
from identity.parsers import SafeJSONParser
from identity.selectors import refresh_token_get, refresh_tokens_of_user
from identity.serializers.refresh_tokens import RefreshTokenSerializer
from identity.services.refresh_tokens import (
    refresh_grant,
    refresh_token_revoke,
    refresh_tokens_revoke_requested,
)
from identity.views.common import json_response, parse, path_uuid
from identity.views.tokens import client_address, token_response

_VALUE_MAX_LENGTH = 512


class RefreshInputSerializer(serializers.Serializer):
    refreshToken = serializers.CharField(required=False, allow_blank=True, max_length=_VALUE_MAX_LENGTH)
    token = serializers.CharField(required=False, allow_blank=True, max_length=16_384)
    timeToLiveInSeconds = serializers.IntegerField(required=False, min_value=1, max_value=10**9)


class RevokeInputSerializer(serializers.Serializer):
    userId = serializers.UUIDField(required=False)
    applicationId = serializers.UUIDField(required=False)
    token = serializers.CharField(required=False, allow_blank=False, max_length=512)


def parse_refresh_input(data: dict[str, Any]) -> dict[str, Any]:
    """RefreshInputSerializer's validated data, without building the serializer for the two bodies
    nearly every refresh sends: none (the token in the cookie) and nothing but a `refreshToken`
    that is a plain `str` of printable ASCII, not padded, at most 512 long (DRF would return it
    as it is: nothing to trim, no NUL or surrogate to refuse). Anything else goes to DRF, errors
    included; tests/test_refresh_input.py compares both."""
    if not data:
        return {}
    if len(data) == 1:
        value = data.get("refreshToken")
        if (
            type(value) is str
            and 0 < len(value) <= _VALUE_MAX_LENGTH
            and value.isascii()
            and value.isprintable()
            and value == value.strip()
        ):
            return {"refreshToken": value}
    return parse(RefreshInputSerializer, data)


def _flat(data: Any) -> dict[str, Any]:
    """A request body as a plain dict: form bodies arrive as a QueryDict of lists."""
    if hasattr(data, "dict"):
        return dict(data.dict())
    return dict(data) if isinstance(data, dict) else {}


def refresh_exchange(
    request: Request | HttpRequest,
    body: Any,
    *,
    tenant_id: uuid.UUID | None,
    respond: Callable[..., HttpResponseBase] = Response,
) -> HttpResponseBase:
    """The refresh exchange, for DRF's view and for its lean path (`refresh_exchange_lean`)."""
    data = parse_refresh_input(_flat(body))
    pair = refresh_grant(
        value=token_cookie(request, REFRESH_COOKIE) or data.get("refreshToken") or "",
        ttl_seconds=data.get("timeToLiveInSeconds"),
        address=client_address(request),
        tenant_id=tenant_id,
    )
    return token_response(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        refresh_token_value=pair.refresh_token_value,
        # A cross-site form post must not plant a session (login CSRF).
        cookies=request_not_forgeable(request),
        respond=respond,
    )


def anonymous_caller(request: HttpRequest) -> Caller:
    """What the exchange's one authenticator (AnonymousCaller) builds, for lean_post."""
    return Caller.build(header=request.META.get(TENANT_META))


def refresh_exchange_lean(request: HttpRequest, body: Any, caller: Caller) -> HttpResponseBase:
    """The exchange for lean_post."""
    return refresh_exchange(request, body, tenant_id=caller.tenant_id, respond=json_response)


@method_decorator(never_cache, name="dispatch")
class RefreshTokenViewSet(viewsets.ViewSet):
    """Routed to FusionAuth's paths: `exchange` is anonymous; reading needs an API key; revoking one
    token also accepts its owner's access token (API key wins when both arrive)."""

    throttle_scope = {"exchange": "refresh"}
    authentication_classes = [APIKeyAuthentication, AccessTokenAuthentication, AnonymousCaller]
    parser_classes = [SafeJSONParser, FormParser]

    def get_authenticators(self) -> list[Any]:
        # Exchange is anonymous: a stale access token in the Authorization header or the cookie
        # must not turn a refresh into a 401. (DRF sets `action` only after building the request.)
        if self.action_map.get((self.request.method or "").lower()) == "exchange":
            return [AnonymousCaller()]
        return super().get_authenticators()

    def get_permissions(self) -> list[BasePermission]:
        if self.action == "exchange":
            return [AllowAny()]
        if self.action in ("destroy", "revoke"):
            return [HasAPIKeyOrUserToken()]
        return [HasAPIKey()]

    def exchange(self, request: Request) -> HttpResponseBase:
        return refresh_exchange(request, request.data, tenant_id=caller_of(request).tenant_id)

    def list(self, request: Request) -> Response:
        user_id = request.query_params.get("userId")
        if not user_id:
            raise ValidationFailed.on_field("userId", "missing", "userId is required.")
        tokens = refresh_tokens_of_user(caller=caller_of(request), user_id=path_uuid(user_id))
        return Response({"refreshTokens": RefreshTokenSerializer(tokens, many=True).data})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        token = refresh_token_get(caller=caller_of(request), token_id=path_uuid(pk))
        return Response({"refreshToken": RefreshTokenSerializer(token).data})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        refresh_token_revoke(caller=caller_of(request), token_id=path_uuid(pk))
        return Response(status=200)

    def revoke(self, request: Request) -> Response:
        """DELETE /api/jwt/refresh with ?token=, ?userId=, ?applicationId=, both ids, or the same
        in a JSON body; `token` may also come form-encoded to keep it out of access logs."""
        data = parse(RevokeInputSerializer, {**_flat(request.data), **request.query_params.dict()})
        refresh_tokens_revoke_requested(
            caller=caller_of(request),
            value=data.get("token"),
            user_id=data.get("userId"),
            application_id=data.get("applicationId"),
        )
        return Response(status=200)
