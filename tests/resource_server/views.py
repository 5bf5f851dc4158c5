"""The resource server's one view: says who the token speaks for and what the process loaded."""

from __future__ import annotations

import sys
from typing import Any

from django.http import HttpRequest, JsonResponse


def items(request: HttpRequest, item: str = "") -> JsonResponse:
    from identity.middleware import _authorizers

    claims = getattr(request, "token_claims", None)
    return JsonResponse(
        {
            "item": item,
            "sub": claims.get("sub") if claims else None,
            "aud": claims.get("aud") if claims else None,
            "identity_models_loaded": "identity.models" in sys.modules,
            "jwks_fetches": sum(getattr(a.source, "fetches", 0) for a in _authorizers.values()),
        }
    )


_self_source: Any = None


def items_verified_here(request: HttpRequest, item: str = "") -> JsonResponse:
    """The `items` view checking the bearer token itself, with the key source the settings name and
    no middleware: bench/middleware_http.py's "bare + verify" baseline (what a hand-written
    protected view costs), so the middleware's own overhead is what remains above it."""
    global _self_source  # built once per process, like the middleware's
    from datetime import UTC, datetime

    from django.conf import settings

    from identity.exceptions import TokenInvalid
    from identity.middleware_config import config_parse
    from identity.middleware_keys import key_source_for

    if _self_source is None:
        _self_source = key_source_for(config_parse(settings.IDENTITY_TOKEN_AUTHORIZATION))
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    try:
        if scheme != "Bearer":
            raise TokenInvalid()
        claims = _self_source.verify(token=token, now=datetime.now(UTC)).claims
    except TokenInvalid:
        return JsonResponse({"error": "invalid_token"}, status=401)
    return JsonResponse({"item": item, "sub": claims.get("sub"), "aud": claims.get("aud")})
