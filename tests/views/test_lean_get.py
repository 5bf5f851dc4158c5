"""identity.views.common.lean_get answers a plain GET of /api/jwt/validate as DRF's view does:
the same status, headers and bytes, errors included, and hands everything else to DRF's view."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from identity.caller import Caller
from identity.services.jwt import jwt_vend
from identity.services.login import password_login
from identity.urls import urlpatterns
from identity.views.jwt import JWTViewSet

pytestmark = pytest.mark.django_db

DRF_VIEW = JWTViewSet.as_view({"get": "validate"})
LEAN_VIEW = next(p.callback for p in urlpatterns if getattr(p, "name", None) == "jwt-validate")


def _token(world: Any) -> str:
    login = password_login(
        tenant=world.tenant, application=world.application, login_id=world.user.email, password=world.password
    )
    assert login.access_token is not None
    return login.access_token.value


def _requests(world: Any, token: str) -> dict[str, tuple[str, dict[str, str]]]:
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    caller = Caller.build(header=str(world.tenant.pk))
    vended = jwt_vend(caller=caller, claims={"role": "svc"}, key_id=None, ttl_seconds=60)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    return {
        "bearer": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
        "legacy-scheme": ("GET", {"HTTP_AUTHORIZATION": f"JWT {token}"}),
        "cookie": ("GET", {"HTTP_COOKIE": f"access_token={token}"}),
        "vended": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {vended}"}),
        "own-tenant": ("GET", {**bearer, "HTTP_X_FUSIONAUTH_TENANTID": str(world.tenant.pk)}),
        "other-tenant": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {token}",
                                 "HTTP_X_FUSIONAUTH_TENANTID": "00000000-0000-4000-8000-000000000000"}),
        "bad-tenant-header": ("GET", {**bearer, "HTTP_X_FUSIONAUTH_TENANTID": "x"}),
        "no-token": ("GET", {}),
        "empty-bearer": ("GET", {"HTTP_AUTHORIZATION": "Bearer "}),
        "forged": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {forged}"}),
        "garbage": ("GET", {"HTTP_AUTHORIZATION": "Bearer a.b.c"}),
        "huge": ("GET", {"HTTP_AUTHORIZATION": "Bearer " + "a" * 20_000}),
        "accept-json": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ACCEPT": "application/json"}),
        "accept-indent": ("GET", {**bearer, "HTTP_ACCEPT": "application/json; indent=2"}),
        "accept-html": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ACCEPT": "text/html"}),
        "head": ("HEAD", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
        "options": ("OPTIONS", {}),
        "post": ("POST", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
        "delete": ("DELETE", {}),
    }  # fmt: skip


CASES = [
    "bearer", "legacy-scheme", "cookie", "vended", "own-tenant", "other-tenant", "bad-tenant-header",
    "no-token", "empty-bearer", "forged", "garbage", "huge", "accept-json", "accept-indent", "accept-html",
    "head", "options", "post", "delete",
]  # fmt: skip


def _answer(view: Any, method: str, meta: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = RequestFactory().generic(method, "/api/jwt/validate", **meta)
    response = view(request)
    if hasattr(response, "render"):
        response = response.render()
    return response.status_code, dict(response.headers), response.content


@pytest.mark.parametrize("case", CASES)
def test_the_lean_answer_is_drfs_answer(world, case):
    method, meta = _requests(world, _token(world))[case]
    drf, lean = _answer(DRF_VIEW, method, meta), _answer(LEAN_VIEW, method, meta)
    # Expires carries the current second: equal unless the two answers straddle a second.
    drf[1].pop("Expires", None), lean[1].pop("Expires", None)
    assert lean == drf
    assert lean[1]["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


def test_the_lean_route_keeps_the_views_openapi_identity():
    assert LEAN_VIEW.cls is JWTViewSet
    assert LEAN_VIEW.actions["get"] == "validate"
    assert LEAN_VIEW.csrf_exempt
