"""Anonymous key publication: JWKS, `/api/jwt/public-key` and OpenID discovery.

Only public members of asymmetric keys ever leave: HMAC secrets and private members (`d`, `p`,
`q`, `k`) are never part of a key's public form. Everything is served from the in-memory key
store, so these endpoints cost no SQL once keys are loaded.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.exceptions import NotFound
from identity.key_store import KeySnapshot, key_snapshot
from identity.models import Application, KeyAlgorithm, Tenant
from identity.selectors import tenant_get_default
from identity.services.oauth import (
    ASSERTION_SIGNING_ALGORITHMS,
    GRANT_TYPES_SUPPORTED,
    TOKEN_ENDPOINT_AUTH_METHODS,
)
from identity.signing import LoadedKey, public_jwk_members, public_pem
from identity.views.common import query_uuid

PUBLIC_CACHE_SECONDS = 60
ASYMMETRIC_ALGORITHMS = [a for a in KeyAlgorithm.values if not a.startswith("HS")]


def _published(keys: dict[str, LoadedKey]) -> list[LoadedKey]:
    now = timezone.now()
    return sorted(
        (k for k in keys.values() if not k.algorithm.startswith("HS") and not k.expired(now)),
        key=lambda k: k.kid,
    )


def _pem(key: LoadedKey) -> str:
    return public_pem(key.verifier)


def _jwk(key: LoadedKey) -> dict[str, str]:
    return {**public_jwk_members(key.verifier), "alg": key.algorithm, "kid": key.kid, "use": "sig"}


def _cached(body: dict[str, Any]) -> Response:
    response = Response(body)
    response["Cache-Control"] = f"public, max-age={PUBLIC_CACHE_SECONDS}"
    return response


def _tenant_from(request: Request, tenant_id: uuid.UUID | None) -> Tenant | None:
    wanted = tenant_id or query_uuid(request, "tenantId")
    if wanted is None:
        return None
    tenant = Tenant.objects.filter(pk=wanted).first()
    if tenant is None:
        raise NotFound()
    return tenant


def _scope(snapshot: KeySnapshot, tenant: Tenant | None) -> dict[str, LoadedKey]:
    return snapshot.by_kid if tenant is None else snapshot.trusted(tenant_id=tenant.pk)


class JWKSApi(APIView):
    """`/.well-known/jwks.json` (every published key) and `/{tenantId}/.well-known/jwks.json`."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request, tenant_id: uuid.UUID | None = None) -> Response:
        keys = _scope(key_snapshot(), _tenant_from(request, tenant_id))
        return _cached({"keys": [_jwk(k) for k in _published(keys)]})


class PublicKeyApi(APIView):
    """`/api/jwt/public-key`: all public keys, one by `kid`, or those of an application."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        snapshot = key_snapshot()
        kid = request.query_params.get("kid")
        if kid is not None:
            match = [k for k in _published(snapshot.by_kid) if k.kid == kid]
            if not match:
                raise NotFound()
            return _cached({"publicKey": _pem(match[0])})
        application_id = query_uuid(request, "applicationId")
        if application_id is not None:
            tenant_id = (
                Application.objects.filter(pk=application_id).values_list("tenant_id", flat=True).first()
            )
            if tenant_id is None:
                raise NotFound()
            keys = _published(snapshot.trusted(tenant_id=tenant_id, application_id=application_id))
            if not keys:
                raise NotFound()
            return _cached({"publicKeys": {k.kid: _pem(k) for k in keys}})
        return _cached({"publicKeys": {k.kid: _pem(k) for k in _published(snapshot.by_kid)}})


def _absolute(request: Request, name: str, **kwargs: Any) -> str | None:
    try:
        return request.build_absolute_uri(reverse(name, kwargs=kwargs or None))
    except NoReverseMatch:
        return None


class OpenIDConfigurationApi(APIView):
    """OpenID discovery for a tenant (the default tenant unless one is named). Only endpoints this
    build actually serves are advertised."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request, tenant_id: uuid.UUID | None = None) -> Response:
        tenant = _tenant_from(request, tenant_id) or tenant_get_default()
        algorithms = sorted({k.algorithm for k in _published(key_snapshot().trusted(tenant_id=tenant.pk))})
        body: dict[str, Any] = {
            "issuer": tenant.issuer,
            "jwks_uri": _absolute(request, "identity:tenant-jwks", tenant_id=tenant.pk),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algorithms or ASYMMETRIC_ALGORITHMS,
            "claims_supported": [
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
            ],
        }
        for field, name in (
            ("token_endpoint", "identity:oauth2-token"),
            ("userinfo_endpoint", "identity:userinfo"),
            ("introspection_endpoint", "identity:oauth2-introspect"),
            ("revocation_endpoint", "identity:oauth2-revoke"),
        ):
            url = _absolute(request, name)
            if url is not None:
                body[field] = url
        if "token_endpoint" in body:  # the OAuth2 side (identity.services.oauth) says what it serves
            body["grant_types_supported"] = list(GRANT_TYPES_SUPPORTED)
            body["token_endpoint_auth_methods_supported"] = list(TOKEN_ENDPOINT_AUTH_METHODS)
            body["token_endpoint_auth_signing_alg_values_supported"] = list(ASSERTION_SIGNING_ALGORITHMS)
        return _cached(body)
