"""`/api/jwt/refresh`: exchange a refresh token, and retrieve or revoke refresh tokens."""

from __future__ import annotations

import uuid
from operator import attrgetter
from typing import Any

from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
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
from identity.cookies import REFRESH_COOKIE, request_not_forgeable, set_token_cookies, token_cookie
from identity.exceptions import NotFound, ValidationFailed
from identity.models import Application, RefreshToken, User
from identity.parsers import SafeJSONParser
from identity.serializers.refresh_tokens import RefreshTokenSerializer
from identity.services.refresh_tokens import (
    RevokeReason,
    refresh_token_exchange,
    refresh_token_find,
    refresh_tokens_revoke,
    refresh_tokens_revoke_family,
)
from identity.views.common import parse, path_uuid
from identity.views.login import client_address

MAX_LISTED = 1000


class RefreshInputSerializer(serializers.Serializer):
    refreshToken = serializers.CharField(required=False, allow_blank=True, max_length=512)
    token = serializers.CharField(required=False, allow_blank=True, max_length=16_384)
    timeToLiveInSeconds = serializers.IntegerField(required=False, min_value=1, max_value=10**9)


class RevokeInputSerializer(serializers.Serializer):
    userId = serializers.UUIDField(required=False)
    applicationId = serializers.UUIDField(required=False)
    token = serializers.CharField(required=False, allow_blank=False, max_length=512)


def _flat(data: Any) -> dict[str, Any]:
    """A request body as a plain dict: form bodies arrive as a QueryDict of lists."""
    if hasattr(data, "dict"):
        return dict(data.dict())
    return dict(data) if isinstance(data, dict) else {}


@method_decorator(never_cache, name="dispatch")
class RefreshTokenViewSet(viewsets.ViewSet):
    """Routed to FusionAuth's paths: `exchange` is anonymous; reading needs an API key; revoking one
    token also accepts its owner's access token (API key wins when both arrive)."""

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

    def exchange(self, request: Request) -> Response:
        data = parse(RefreshInputSerializer, _flat(request.data))
        value: str = token_cookie(request, REFRESH_COOKIE) or data.get("refreshToken") or ""
        now = timezone.now()
        exchanged = refresh_token_exchange(
            value=value,
            ttl_seconds=data.get("timeToLiveInSeconds"),
            address=client_address(request, None),
            tenant_id=caller_of(request).tenant_id,
            now=now,
        )
        token, access = exchanged.token, exchanged.access_token
        response = Response(
            {"token": access.value, "refreshToken": exchanged.value, "refreshTokenId": str(token.pk)}
        )
        if request_not_forgeable(request):  # a cross-site form post must not plant a session (login CSRF)
            set_token_cookies(
                response,
                access_token=access.value,
                refresh_token=exchanged.value,
                refresh_expires_at=token.expires_at,
            )
        return response

    def list(self, request: Request) -> Response:
        user_id = request.query_params.get("userId")
        if not user_id:
            raise ValidationFailed.on_field("userId", "missing", "userId is required.")
        user = self._user(request, path_uuid(user_id))
        tokens = RefreshToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")[
            :MAX_LISTED
        ]
        return Response({"refreshTokens": RefreshTokenSerializer(tokens, many=True).data})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"refreshToken": RefreshTokenSerializer(self._token(request, path_uuid(pk))).data})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        token = self._token(request, path_uuid(pk))
        refresh_tokens_revoke(token_ids=[str(token.pk)], reason=RevokeReason.API)
        return Response(status=200)

    def revoke(self, request: Request) -> Response:
        """DELETE /api/jwt/refresh with ?token=, ?userId=, ?applicationId=, both ids, or the same
        in a JSON body; `token` may also come form-encoded to keep it out of access logs."""
        source = {**_flat(request.data), **request.query_params.dict()}
        data = parse(RevokeInputSerializer, source)
        if "token" in data:
            found = refresh_token_find(value=data["token"])
            if found is None or found.revoked_at is not None:
                raise NotFound()
            token = self._token(request, found.pk)
            refresh_tokens_revoke_family(family_id=token.family_id, reason=RevokeReason.API)
            return Response(status=200)
        caller_of(request).key()  # an end user may revoke their own token, not in bulk
        if "userId" not in data and "applicationId" not in data:
            raise ValidationFailed.on_field("token", "missing", "Send a token, a userId or an applicationId.")
        user = self._user(request, data["userId"]) if "userId" in data else None
        application = self._application(request, data["applicationId"]) if "applicationId" in data else None
        refresh_tokens_revoke(user=user, application=application, reason=RevokeReason.API)
        return Response(status=200)

    def _token(self, request: Request, token_id: uuid.UUID) -> RefreshToken:
        # Without a key, the user's own sessions only: someone else's looks like no session at all.
        return caller_of(request).visible(
            RefreshToken.objects.filter(pk=token_id, revoked_at__isnull=True).first(),
            owner_of=attrgetter("user_id"),
        )

    def _user(self, request: Request, user_id: uuid.UUID) -> User:
        return caller_of(request).visible(User.objects.filter(pk=user_id).first())

    def _application(self, request: Request, application_id: uuid.UUID) -> Application:
        return caller_of(request).visible(Application.objects.filter(pk=application_id).first())
