"""OAuth2 endpoints: `/oauth2/token` (alias `/connect/token`), `/oauth2/introspect`, `/oauth2/revoke`,
and the RFC 8414 metadata document. Errors come out in RFC 6749 §5.2 shape through
identity.exception_handler, with `Cache-Control: no-store` on every answer.

The form body is parsed here, strictly: `application/x-www-form-urlencoded` only, ASCII, at most
`MAX_FIELDS` parameters, each at most once, no control characters, no value over 16 KB; a blank
value counts as omitted (RFC 6749 §3.2).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.authentication import AnonymousCaller, APIKeyAuthentication, HasAPIKey, caller_of
from identity.exception_handler import NO_STORE
from identity.exceptions import NotFound, OAuthInvalidClient, OAuthInvalidRequest
from identity.http_cache import never_cache
from identity.models import Application
from identity.selectors import tenant_for_issuer, tenant_for_server_root, tenant_get
from identity.services.oauth import (
    ASSERTION_SIGNING_ALGORITHMS,
    GRANT_TYPES_SUPPORTED,
    RESPONSE_TYPES_SUPPORTED,
    TOKEN_ENDPOINT_AUTH_METHODS,
    oauth_token_grant,
    oauth_token_introspect,
    oauth_token_revoke,
)
from identity.services.oauth_clients import MAX_OVERLAP_SECONDS, ClientCredentials, oauth_client_secret_rotate
from identity.signing import MAX_TOKEN_BYTES
from identity.views.common import parse, path_uuid, public_document
from identity.views.tokens import client_address

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 32


def form_of(request: Request) -> dict[str, str]:
    """The request's form parameters; anything else than a clean form body is `invalid_request`.
    No body at all is no parameters, whatever the content type, so the service names the one missing."""
    if not request.body:
        return {}
    if request.content_type.split(";", 1)[0].strip().lower() != FORM:
        raise OAuthInvalidRequest(f"The body must be {FORM}.")
    try:
        pairs = parse_qsl(
            request.body.decode("ascii"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict"
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthInvalidRequest("The form body is malformed.") from exc
    form: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise OAuthInvalidRequest("A parameter is repeated.")
        if len(value) > MAX_TOKEN_BYTES or not (value.isprintable() and name.isprintable()):
            raise OAuthInvalidRequest("A parameter is too long or holds control characters.")
        seen.add(name)
        if value:
            form[name] = value
    return form


def basic_of(request: Request) -> tuple[str, str] | None:
    """Client id and secret of `Authorization: Basic`, each form-decoded after the Base64 step
    (RFC 6749 §2.3.1); None without a Basic header. A malformed one is `invalid_client` (401)."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise OAuthInvalidClient.over_basic("Malformed Basic credentials.") from exc
    client_id, colon, secret = decoded.partition(":")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if not colon or not client_id or len(decoded) > MAX_TOKEN_BYTES or not (client_id + secret).isprintable():
        raise OAuthInvalidClient.over_basic("Malformed Basic credentials.")
    return client_id, secret


def credentials_of(request: Request, form: dict[str, str]) -> ClientCredentials:
    return ClientCredentials(
        basic=basic_of(request),
        client_id=form.get("client_id"),
        client_secret=form.get("client_secret"),
        assertion_type=form.get("client_assertion_type"),
        assertion=form.get("client_assertion"),
    )


def audiences_of(request: Request, form: dict[str, str]) -> list[str]:
    """What a client assertion's `aud` may name (besides the issuer): the token endpoint at either
    path, and the endpoint called. Only an assertion reads them, so without one none are built
    (three URL reversals a grant need not pay)."""
    if "client_assertion" not in form:
        return []
    paths = {reverse("identity:oauth2-token"), reverse("identity:connect-token"), request.path}
    return sorted(request.build_absolute_uri(path) for path in paths)


def no_store(body: dict[str, Any]) -> Response:
    return Response(body, headers=NO_STORE)


class JSONOnly(BaseContentNegotiation):
    """The OAuth2 endpoints answer JSON whatever `Accept` says (RFC 6749 §5.1, RFC 7662 §2.2), so
    there is nothing to negotiate: no Accept header parsed on the token endpoint's hot path, and no
    406 an OAuth client would not expect. The form body is parsed by `form_of`, not DRF."""

    def select_parser(self, request: Request, parsers: Any) -> None:
        return None

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


class OAuthApi(APIView):
    """Form in, JSON out; clients authenticate inside the services (not DRF authentication)."""

    throttle_scope = "oauth"
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes: list[type] = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        """The methods (DRF's `Allow` header) and nothing else: not DRF's description of the view,
        and not cacheable, like every other answer of these endpoints."""
        return Response(status=204, headers=NO_STORE)


class TokenApi(OAuthApi):
    def post(self, request: Request) -> Response:
        form = form_of(request)
        answer = oauth_token_grant(
            credentials=credentials_of(request, form),
            params=form,
            audiences=audiences_of(request, form),
            now=timezone.now(),
            address=client_address(request, None),
        )
        return no_store(answer.as_json())


class IntrospectApi(OAuthApi):
    """RFC 7662, for an API key (`Authorization: <key>`) or an authenticated client."""

    authentication_classes = [APIKeyAuthentication, AnonymousCaller]

    def post(self, request: Request) -> Response:
        form = form_of(request)
        answer = oauth_token_introspect(
            token=form.get("token"),
            caller=caller_of(request),
            credentials=credentials_of(request, form),
            audiences=audiences_of(request, form),
            now=timezone.now(),
        )
        return no_store(answer)


class RevokeApi(OAuthApi):
    def post(self, request: Request) -> Response:
        form = form_of(request)
        oauth_token_revoke(
            token=form.get("token"),
            credentials=credentials_of(request, form),
            audiences=audiences_of(request, form),
            now=timezone.now(),
        )
        return no_store({})


def _absolute(request: Request, name: str) -> str:
    return request.build_absolute_uri(reverse(name))


class AuthorizationServerMetadataApi(APIView):
    """RFC 8414 for the tenant whose issuer is this origin plus the path after the well-known
    suffix (§3.1's form, so `issuer` is the URL the document came from), for the tenant id before
    it (OpenID's form), else at the root for the tenant whose issuer is this server's origin, else
    the default tenant. There is no authorization endpoint, so `response_types_supported` is empty."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(
        self, request: Request, tenant_id: uuid.UUID | None = None, issuer_path: str | None = None
    ) -> Response:
        if issuer_path is not None:  # RFC 8414 §3.1: an issuer with a path, inserted after the host
            found = tenant_for_issuer(issuer=request.build_absolute_uri("/") + issuer_path)
        elif tenant_id is not None:
            found = tenant_get(tenant_id=tenant_id)
        else:
            found = tenant_for_server_root(origin=request.build_absolute_uri("/"))
        if found is None:
            raise NotFound()
        tenant = found
        auth_methods = list(TOKEN_ENDPOINT_AUTH_METHODS)
        body = {
            "issuer": tenant.issuer,
            "token_endpoint": _absolute(request, "identity:oauth2-token"),
            "jwks_uri": request.build_absolute_uri(
                reverse("identity:tenant-jwks", kwargs={"tenant_id": tenant.pk})
            ),
            "response_types_supported": list(RESPONSE_TYPES_SUPPORTED),
            "grant_types_supported": list(GRANT_TYPES_SUPPORTED),
            "token_endpoint_auth_methods_supported": auth_methods,
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_SIGNING_ALGORITHMS),
            "introspection_endpoint": _absolute(request, "identity:oauth2-introspect"),
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint": _absolute(request, "identity:oauth2-revoke"),
            "revocation_endpoint_auth_methods_supported": auth_methods,
        }
        return public_document(body)


class SecretRotationSerializer(serializers.Serializer):
    overlapSeconds = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=MAX_OVERLAP_SECONDS
    )


@method_decorator(never_cache, name="dispatch")
class ClientSecretApi(APIView):
    """`POST /api/application/{id}/oauth-configuration/client-secret` (API key): a new client secret,
    answered once; `{"overlapSeconds": N}` keeps the previous one working N more seconds."""

    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def post(self, request: Request, pk: str) -> Response:
        data = parse(SecretRotationSerializer, request.data if isinstance(request.data, dict) else {})
        application = caller_of(request).visible(Application.objects.filter(pk=path_uuid(pk)).first())
        secret = oauth_client_secret_rotate(application=application, overlap_seconds=data["overlapSeconds"])
        return Response({"oauthConfiguration": {"clientId": str(application.pk), "clientSecret": secret}})
