"""API-key authentication for the REST APIs, as FusionAuth does it.

`Authorization: <raw key>` with no scheme. An empty header counts as absent (the official SDK
sends one on anonymous calls). Bearer/JWT/Basic headers are left to other authenticators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from identity.cookies import ACCESS_COOKIE
from identity.models import APIKey, Tenant
from identity.selectors import tenant_resolve
from identity.services.access_tokens import VerifiedToken, access_token_verify
from identity.services.api_keys import api_key_authenticate

TENANT_HEADER = "X-FusionAuth-TenantId"
_OTHER_SCHEMES = frozenset({"bearer", "jwt", "basic"})


def endpoint_of(request: Request) -> str:
    """The endpoint a request calls, named as FusionAuth names it in key permissions: its route up to
    the first path parameter (`/api/user/{id}` is `/api/user`; `/api/user/registration/{id}` is
    `/api/user/registration`). Matched exactly, so a permission never reaches a neighbour below it."""
    match = request.resolver_match
    route = match.route if match is not None else request.path.lstrip("/")
    return "/" + route.split("<", 1)[0].rstrip("/")


class APIKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AnonymousUser, APIKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "").strip()
        if not header:
            return None
        scheme, _, rest = header.partition(" ")
        if rest and scheme.lower() in _OTHER_SCHEMES:
            return None
        api_key = api_key_authenticate(
            raw=header, endpoint=endpoint_of(request), method=request.method or "GET"
        )
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 rather than 403 for a missing key; the body stays empty.
        return "APIKey"


class HasAPIKey(BasePermission):
    """The request was authenticated by an API key (whose endpoint permission was already checked)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, APIKey)


class HasKeyManagerAPIKey(HasAPIKey):
    """Only key-manager keys may create, change or delete API keys."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, APIKey) and request.auth.key_manager


def request_tenant(request: Request) -> Tenant:
    """The tenant this API call acts in (lock of the key, tenant header, or the only tenant)."""
    api_key = request.auth if isinstance(request.auth, APIKey) else None
    return tenant_resolve(api_key=api_key, requested_id=request.headers.get(TENANT_HEADER))


@dataclass(frozen=True)
class TokenPrincipal:
    """The user an access token speaks for, known from its verified claims without a query."""

    token: VerifiedToken

    is_authenticated = True
    is_anonymous = False

    @property
    def user_id(self) -> str:
        return str(self.token.claims["sub"])


class AccessTokenAuthentication(JWTAuthentication):
    """A user access token as `Authorization: Bearer <jwt>` or in the `access_token` cookie.

    simplejwt parses the header; verification is ours (per-tenant keys, token kinds), so a vended
    token, an id token or a refresh-token value never authenticates a user."""

    def authenticate(self, request: Request) -> tuple[TokenPrincipal, VerifiedToken] | None:  # type: ignore[override]
        header = self.get_header(request)
        raw = self.get_raw_token(header) if header is not None else None
        if raw is None:
            cookie = request.COOKIES.get(ACCESS_COOKIE)
            if not cookie:
                return None
            raw = cookie.encode("ascii", errors="replace")
        verified = access_token_verify(token=raw.decode("ascii", errors="replace"), now=timezone.now())
        return TokenPrincipal(verified), verified

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"
