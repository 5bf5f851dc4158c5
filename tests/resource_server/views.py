"""The resource server's one view: says who the token speaks for and what the process loaded."""

from __future__ import annotations

import sys

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
