"""fastapi-users style login backends: `POST /auth/<name>/login` (OAuth2 password form) and
`POST /auth/<name>/logout`. Rules: identity.services.login_backends."""

from __future__ import annotations

from typing import Literal

from django.conf import settings
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.cookies import request_not_forgeable
from identity.http_cache import never_cache
from identity.models import LoginBackend, LoginTransport
from identity.services.login_backends import BackendLogin, login_backend_login, login_backend_logout
from identity.views.common import parse


class PasswordFormSerializer(serializers.Serializer):
    """OAuth2PasswordRequestForm: `username` and `password`; grant_type, scope and client
    credentials may come along (Swagger sends them) and are ignored."""

    username = serializers.CharField(max_length=320)
    password = serializers.CharField(max_length=1024, trim_whitespace=False)


def _samesite(backend: LoginBackend) -> Literal["Lax", "Strict", "None"]:
    return {"strict": "Strict", "none": "None"}.get(backend.cookie_samesite, "Lax")  # type: ignore[return-value]


def login_answer(done: BackendLogin) -> Response:
    backend = done.backend
    if backend.transport == LoginTransport.BEARER:
        return Response({"access_token": done.access_token.value, "token_type": "bearer"})
    response = Response(status=204)
    response.set_cookie(
        backend.cookie_name,
        done.access_token.value,
        max_age=done.max_age_seconds,
        path=backend.cookie_path,
        domain=backend.cookie_domain or None,
        secure=backend.cookie_secure or not settings.DEBUG,
        httponly=True,
        samesite=_samesite(backend),
    )
    return response


def _cross_site(request: Request) -> bool:
    """Sent by a page of another site (a browser says so with Origin / Sec-Fetch-Site); servers,
    curl and SDKs send neither."""
    sent_by_browser = "Origin" in request.headers or "Sec-Fetch-Site" in request.headers
    return sent_by_browser and not request_not_forgeable(request)


@method_decorator([sensitive_post_parameters("password"), never_cache], name="dispatch")
class BackendLoginApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser, MultiPartParser]

    throttle_scope = "login"

    def post(self, request: Request, name: str) -> Response:
        data = parse(PasswordFormSerializer, request.data)
        done = login_backend_login(
            name=name, username=data["username"], password=data["password"], cross_site=_cross_site(request)
        )
        return login_answer(done)


@method_decorator(never_cache, name="dispatch")
class BackendLogoutApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def post(self, request: Request, name: str) -> Response:
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        backend = login_backend_logout(
            name=name,
            bearer=bearer.strip() if scheme.lower() == "bearer" else None,
            cookies=request.COOKIES,
            forgeable=not request_not_forgeable(request),
        )
        response = Response(status=204)
        if backend.transport == LoginTransport.COOKIE:
            response.delete_cookie(
                backend.cookie_name,
                path=backend.cookie_path,
                domain=backend.cookie_domain or None,
                samesite=_samesite(backend),
            )
        return response
