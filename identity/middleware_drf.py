"""The DRF authentication class matching identity.middleware: same settings, same verification.

Behind the middleware it takes the claims the middleware already verified; on a path the
middleware does not protect it verifies a token itself when one is sent (no token: anonymous, so
permissions decide) and applies the path's `path_requirements` (403 when unmet). `request.user` is
a `TokenUser` built from the claims (no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request

from identity.middleware import MESSAGES, Refused, configured_authorizer


class TokenUser:
    """Who a verified token speaks for: its claims, nothing looked up."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims
        self.pk = self.id = claims.get("sub")
        self.username = str(
            claims.get("preferred_username") or claims.get("email") or claims.get("sub") or ""
        )

    def __str__(self) -> str:
        return self.username


class TokenAuthorizationAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[TokenUser, dict[str, Any]] | None:
        claims = getattr(request._request, "token_claims", None)
        if claims is None:
            authorizer = configured_authorizer()
            if authorizer is None:
                return None
            try:
                token = authorizer.token_from(request._request)
                if token is None:
                    return None
                claims = authorizer.authorize(token, now=datetime.now(UTC)).claims
            except Refused as refused:
                raise AuthenticationFailed(refused.message) from refused
            # Without the middleware in front, the path's requirements are checked here.
            reason = authorizer.unmet(authorizer.config.rules.decide(request._request.path_info), claims)
            if reason is not None:
                raise PermissionDenied(reason)
        return TokenUser(claims), claims

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer error="invalid_token"'


__all__ = ["MESSAGES", "TokenAuthorizationAuthentication", "TokenUser"]
