"""The sample endpoint identity.middleware protects in `make run`'s demo (settings
IDENTITY_TOKEN_AUTHORIZATION): it only reads the claims the middleware verified."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def demo_hello(request: HttpRequest) -> JsonResponse:
    claims = getattr(request, "token_claims", None)
    if claims is None:  # the middleware is switched off: nothing vouches for the caller
        return JsonResponse({"error": "invalid_token", "errorMessage": "No token was verified."}, status=401)
    who = claims.get("email") or claims.get("sub")
    return JsonResponse({"message": f"Hello, {who}!", "sub": claims.get("sub"), "aud": claims.get("aud")})
