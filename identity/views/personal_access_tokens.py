"""`/api/user/{userId}/access-token[/{id}]`: a user's or bot's personal access tokens, and
`/api/jwt/exchange`: a PAT exchanged for a short-lived access token (RFC 8693)."""

from __future__ import annotations

from operator import attrgetter

from django.utils import timezone
from django.utils.decorators import method_decorator
from rest_framework import viewsets
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.authentication import (
    AccessTokenAuthentication,
    AnonymousCaller,
    APIKeyAuthentication,
    HasAPIKey,
    HasAPIKeyOrUserToken,
    caller_of,
)
from identity.caller import Caller
from identity.exceptions import NotFound
from identity.http_cache import never_cache
from identity.models import PersonalAccessToken, User
from identity.parsers import SafeJSONParser
from identity.selectors import personal_access_token_of, personal_access_tokens_of, user_get
from identity.serializers.personal_access_tokens import (
    AccessTokenCreateSerializer,
    AccessTokenSerializer,
    TokenExchangeResponseSerializer,
    TokenExchangeSerializer,
    created_json,
    errors_on_wire,
)
from identity.services.personal_access_tokens import pat_create, pat_exchange, pat_revoke
from identity.views.common import parse, path_uuid


def revoked_by(caller: Caller) -> str:
    """Who revokes, as the record keeps it: the API key's id, else the user's own token."""
    if caller.api_key is not None:
        return f"api key {caller.api_key.pk}"
    return f"user {caller.principal.claims.get('sub')}" if caller.principal is not None else "unknown"


@method_decorator(never_cache, name="dispatch")
class AccessTokenViewSet(viewsets.ViewSet):
    """Creating needs an API key; a user may list, read and revoke their own tokens with their own
    access token (or PAT). Another user's tokens, or another tenant's user, are not found."""

    throttle_scope = "pat"
    authentication_classes = [APIKeyAuthentication, AccessTokenAuthentication, AnonymousCaller]
    parser_classes = [SafeJSONParser]

    def get_permissions(self) -> list[BasePermission]:
        return [HasAPIKey()] if self.action == "create" else [HasAPIKeyOrUserToken()]

    def create(self, request: Request, user_id: str) -> Response:
        user = self._user(request, user_id)
        data = parse(AccessTokenCreateSerializer, request.data)
        with errors_on_wire():
            created = pat_create(
                user=user,
                name=data["name"],
                expiry=data["JWTTokenExpiry"],
                scopes=data.get("scopes"),
                application_id=data.get("applicationId"),
                allowed_ips=data.get("allowedIps"),
            )
        return Response(created_json(token=created.token, value=created.value))

    def list(self, request: Request, user_id: str) -> Response:
        tokens = personal_access_tokens_of(user=self._user(request, user_id))
        return Response({"accessTokens": AccessTokenSerializer(tokens, many=True).data})

    def retrieve(self, request: Request, user_id: str, pk: str) -> Response:
        return Response({"accessToken": AccessTokenSerializer(self._token(request, user_id, pk)).data})

    def destroy(self, request: Request, user_id: str, pk: str) -> Response:
        token = pat_revoke(token=self._token(request, user_id, pk), by=revoked_by(caller_of(request)))
        return Response({"accessToken": AccessTokenSerializer(token).data})

    def _user(self, request: Request, user_id: str) -> User:
        return caller_of(request).visible(user_get(user_id=path_uuid(user_id)), owner_of=attrgetter("pk"))

    def _token(self, request: Request, user_id: str, pk: str) -> PersonalAccessToken:
        token = personal_access_token_of(user=self._user(request, user_id), token_id=path_uuid(pk))
        if token is None:
            raise NotFound()
        return token


@method_decorator(never_cache, name="dispatch")
class TokenExchangeApi(APIView):
    """`POST /api/jwt/exchange` with `subject_token` and `subject_token_type`, as a form (RFC 8693)
    or JSON. The PAT is the only credential; the tenant header, if sent, must name its tenant."""

    throttle_scope = "pat"
    authentication_classes = [AnonymousCaller]
    permission_classes = [AllowAny]
    parser_classes = [FormParser, SafeJSONParser]

    def post(self, request: Request) -> Response:
        data = parse(TokenExchangeSerializer, request.data)
        access = pat_exchange(
            subject_token=data["subject_token"],
            subject_token_type=data["subject_token_type"],
            address=request.META.get("REMOTE_ADDR"),
            now=timezone.now(),
            tenant_id=caller_of(request).tenant_id,
        )
        return Response(TokenExchangeResponseSerializer(access).data)
