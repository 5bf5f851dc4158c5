"""Anonymous key publication: JWKS, `/api/jwt/public-key` and OpenID discovery.

Only public members of asymmetric keys ever leave: HMAC secrets and private members (`d`, `p`,
`q`, `k`) are never part of a key's public form. Everything is served from the in-memory key
store, so these endpoints cost no SQL once keys are loaded.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import NoReverseMatch, reverse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.services.key_publication import discovery_for, keys_published, public_keys
from identity.services.oauth import (
    ASSERTION_SIGNING_ALGORITHMS,
    GRANT_TYPES_SUPPORTED,
    RESPONSE_TYPES_SUPPORTED,
    TOKEN_ENDPOINT_AUTH_METHODS,
)
from identity.signing import LoadedKey, public_jwk_members, public_pem
from identity.views.common import public_document, query_uuid


def _pem(key: LoadedKey) -> str:
    return public_pem(key.verifier)


def _jwk(key: LoadedKey) -> dict[str, str]:
    return {**public_jwk_members(key.verifier), "alg": key.algorithm, "kid": key.kid, "use": "sig"}


class JWKSApi(APIView):
    """`/.well-known/jwks.json` (every published key) and `/{tenantId}/.well-known/jwks.json`."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request, tenant_id: uuid.UUID | None = None) -> Response:
        keys = keys_published(tenant_id=tenant_id or query_uuid(request, "tenantId"))
        return public_document({"keys": [_jwk(k) for k in keys]})


class PublicKeyApi(APIView):
    """`/api/jwt/public-key`: all public keys, one by `kid`, or those of an application."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        kid = request.query_params.get("kid")
        keys = public_keys(kid=kid, application_id=query_uuid(request, "applicationId"))
        if kid is not None:
            return public_document({"publicKey": _pem(keys[0])})
        return public_document({"publicKeys": {k.kid: _pem(k) for k in keys}})


def _absolute(request: Request, name: str, **kwargs: Any) -> str | None:
    try:
        return request.build_absolute_uri(reverse(name, kwargs=kwargs or None))
    except NoReverseMatch:
        return None


CLAIMS_SUPPORTED = [
    "aud",
    "exp",
    "iat",
    "iss",
    "sub",
    "jti",
    "auth_time",
    "email",
    "email_verified",
    "applicationId",
    "roles",
    "sid",
    "tid",
    "authenticationType",
]
OPTIONAL_ENDPOINTS = (
    ("token_endpoint", "identity:oauth2-token"),
    ("userinfo_endpoint", "identity:userinfo"),
    ("introspection_endpoint", "identity:oauth2-introspect"),
    ("revocation_endpoint", "identity:oauth2-revoke"),
)


class OpenIDConfigurationApi(APIView):
    """OpenID discovery for a tenant: the one in the path or `?tenantId=`, else the one whose issuer
    is this server's origin (`make run`'s demo tenant), else the default tenant. Only
    endpoints this build actually serves are advertised; there is no authorization endpoint, so
    `response_types_supported` is empty, as in the RFC 8414 document."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request, tenant_id: uuid.UUID | None = None) -> Response:
        discovery = discovery_for(
            tenant_id=tenant_id or query_uuid(request, "tenantId"), origin=request.build_absolute_uri("/")
        )
        body: dict[str, Any] = {
            "issuer": discovery.tenant.issuer,
            "jwks_uri": _absolute(request, "identity:tenant-jwks", tenant_id=discovery.tenant.pk),
            "response_types_supported": list(RESPONSE_TYPES_SUPPORTED),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": discovery.signing_algorithms,
            "claims_supported": CLAIMS_SUPPORTED,
        }
        urls = {field: _absolute(request, name) for field, name in OPTIONAL_ENDPOINTS}
        body.update({field: url for field, url in urls.items() if url is not None})
        if "token_endpoint" in body:  # the OAuth2 side (identity.services.oauth) says what it serves
            body["grant_types_supported"] = list(GRANT_TYPES_SUPPORTED)
            body["token_endpoint_auth_methods_supported"] = list(TOKEN_ENDPOINT_AUTH_METHODS)
            body["token_endpoint_auth_signing_alg_values_supported"] = list(ASSERTION_SIGNING_ALGORITHMS)
        return public_document(body)
