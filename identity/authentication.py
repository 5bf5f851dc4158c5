"""Authentication for the REST APIs, as FusionAuth does it; each class builds the request's Caller.

API keys: `Authorization: <raw key>` with no scheme. An empty header counts as absent (the official
SDK sends one on anonymous calls). Bearer/JWT/Basic headers are left to other authenticators.
Whatever authenticates (or nothing), `request.auth` is the one `identity.caller.Caller`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from identity.caller import TENANT_META, Caller
from identity.cookies import ACCESS_COOKIE, token_cookie
from identity.exceptions import NotAuthenticated
from identity.services.access_tokens import VerifiedToken, access_token_verify
from identity.services.api_keys import api_key_authenticate, api_key_value_well_formed
from identity.services.personal_access_tokens import pat_check
from identity.signing import TokenKind

_OTHER_SCHEMES = frozenset({"bearer", "jwt", "basic"})


def endpoint_of(request: Request) -> str:
    """The endpoint a request calls, named as FusionAuth names it in key permissions: its route up to
    the first path parameter (`/api/user/{id}` is `/api/user`; `/api/user/registration/{id}` is
    `/api/user/registration`). Matched exactly, so a permission never reaches a neighbour below it.
    Our own resources nested under FusionAuth's are endpoints of their own (_endpoint_name)."""
    match = request.resolver_match
    return _endpoint_name(match.route if match is not None else request.path.lstrip("/"))


# Resources of ours nested under a FusionAuth one: personal access tokens under a user, login
# backends and the OAuth client-secret rotation under an application. A key allowed to create users
# or change applications must not thereby mint a user's PAT or read a new client secret.
OWN_NESTED_SEGMENTS = frozenset({"access-token", "login-backend", "client-secret"})


@functools.cache
def _endpoint_name(route: str) -> str:
    """`/api/user/<id>/access-token/<pk>` → `/api/user/access-token` (every fixed segment) for our
    nested resources; otherwise the route up to its first parameter."""
    fixed = [segment for segment in route.split("/") if segment and "<" not in segment]
    if OWN_NESTED_SEGMENTS.intersection(fixed):
        return "/" + "/".join(fixed)
    return "/" + route.split("<", 1)[0].rstrip("/")


class APIKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AnonymousUser, Caller] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "").strip()
        if not header:
            return None
        scheme, _, rest = header.partition(" ")
        if rest and scheme.lower() in _OTHER_SCHEMES:
            return None
        if not api_key_value_well_formed(header):
            raise NotAuthenticated()  # no key has such a value: answer without a lookup
        api_key = api_key_authenticate(
            raw=header, endpoint=endpoint_of(request), method=request.method or "GET"
        )
        return AnonymousUser(), Caller.build(api_key=api_key, header=request.META.get(TENANT_META))

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 rather than 403 for a missing key; the body stays empty.
        return "APIKey"


class AnonymousCaller(BaseAuthentication):
    """Last in every list: a request no credential authenticated is still a Caller, confined by its
    tenant header like any other (so anonymous token endpoints follow the same table)."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, Caller]:
        return AnonymousUser(), Caller.build(header=request.META.get(TENANT_META))


def caller_of(request: Request) -> Caller:
    """The Caller the authentication classes built for this request."""
    if not isinstance(request.auth, Caller):
        raise NotAuthenticated()
    return request.auth


class HasAPIKey(BasePermission):
    """The request was authenticated by an API key (whose endpoint permission was already checked)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, Caller) and request.auth.api_key is not None


class HasKeyManagerAPIKey(HasAPIKey):
    """Only key-manager keys may create, change or delete API keys."""

    def has_permission(self, request: Request, view: Any) -> bool:
        caller = request.auth
        return isinstance(caller, Caller) and caller.api_key is not None and caller.api_key.key_manager


class HasAPIKeyOrUserToken(BasePermission):
    """An API key, or a user's access token (an end user acting on their own sessions)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        caller = request.auth
        return isinstance(caller, Caller) and (caller.api_key is not None or caller.principal is not None)


class HasGlobalAPIKey(HasAPIKey):
    """Shared configuration (signing keys): only a key not locked to a tenant may manage it."""

    def has_permission(self, request: Request, view: Any) -> bool:
        caller = request.auth
        return isinstance(caller, Caller) and caller.api_key is not None and caller.locked_tenant is None


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
    token, an id token or a refresh-token value never authenticates a user. A personal access token
    does (revocation and IP allowlist checked, no SQL), except where the view opts out
    (`accept_personal_access_tokens=False`: /api/jwt/issue)."""

    def __init__(self, *args: Any, accept_personal_access_tokens: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kinds = (
            (TokenKind.ACCESS, TokenKind.PAT) if accept_personal_access_tokens else (TokenKind.ACCESS,)
        )

    def authenticate(self, request: Request) -> tuple[TokenPrincipal, Caller] | None:  # type: ignore[override]
        header = self.get_header(request)
        raw = self.get_raw_token(header) if header is not None else None
        if raw is None:
            cookie = token_cookie(request, ACCESS_COOKIE)
            if not cookie:
                return None
            raw = cookie.encode("ascii", errors="replace")
        now = timezone.now()
        verified = access_token_verify(token=raw.decode("ascii", errors="replace"), now=now, kinds=self.kinds)
        if verified.kind == TokenKind.PAT:
            pat_check(verified=verified, address=request.META.get("REMOTE_ADDR"), now=now)
        return TokenPrincipal(verified), Caller.build(
            principal=verified, header=request.META.get(TENANT_META)
        )

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"
