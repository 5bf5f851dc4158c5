"""Request and response pieces shared by the endpoints that start or extend a session (login, login
ping, reconcile, refresh, issue): the device a session starts from, and the token answer with its
cookies. Not a view: the views import these rather than each other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from identity.cookies import set_token_cookies
from identity.models import RefreshToken
from identity.serializers.common import instant
from identity.serializers.users import user_body
from identity.services.access_tokens import AccessToken
from identity.services.login import LoginResult
from identity.services.refresh_tokens import DeviceInfo


class DeviceSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=255)
    type = serializers.CharField(required=False, allow_blank=True, max_length=64)


class MetaDataSerializer(serializers.Serializer):
    device = DeviceSerializer(required=False)


def client_address(request: Request | HttpRequest, given: str | None = None) -> str:
    """The address recorded on the session: the caller-supplied `ipAddress`, else the peer. Never
    used to decide anything (lockout is per account), so a spoofed value only mislabels a row."""
    return given or request.META.get("REMOTE_ADDR", "")


def device_info(request: Request, data: dict[str, Any]) -> DeviceInfo:
    """The device a session is started from, as the request's `metaData.device` describes it."""
    device = (data.get("metaData") or {}).get("device") or {}
    return DeviceInfo(
        name=device.get("name", ""),
        description=device.get("description", ""),
        type=device.get("type", ""),
        address=client_address(request, data.get("ipAddress")),
    )


def token_response(
    *,
    access_token: AccessToken | None,
    refresh_token: RefreshToken | None,
    refresh_token_value: str | None,
    body: dict[str, Any] | None = None,
    status: int = 200,
    cookies: bool = True,
    with_expiry: bool = False,
    respond: Callable[..., HttpResponseBase] = Response,
) -> HttpResponseBase:
    """`body` with FusionAuth's `token` (and with `with_expiry` its `tokenExpirationInstant`),
    `refreshToken` and `refreshTokenId` members for what was issued, and (unless `cookies` is off)
    the same tokens as the access_token/refresh_token cookies. `respond(body, status=…)` makes the
    response: DRF's Response in a DRF view, identity.views.common.json_response on a lean path."""
    body = dict(body or {})
    if access_token is not None:
        body["token"] = access_token.value
        if with_expiry:
            body["tokenExpirationInstant"] = instant(access_token.expires_at)
    if refresh_token is not None:
        body["refreshToken"] = refresh_token_value
        body["refreshTokenId"] = str(refresh_token.pk)
    response = respond(body, status=status)
    if cookies:
        set_token_cookies(
            response,
            access_token=access_token.value if access_token is not None else None,
            refresh_token=refresh_token_value,
            refresh_expires_at=refresh_token.expires_at if refresh_token is not None else None,
        )
    return response


def login_response(result: LoginResult) -> HttpResponseBase:
    """A login's answer (password login, ping, reconcile): the user, the tokens, the cookies."""
    return token_response(
        access_token=result.access_token,
        refresh_token=result.refresh_token,
        refresh_token_value=result.refresh_token_value,
        body={"user": user_body(result.user, result.registrations)},
        status=result.status.value,
        with_expiry=True,
    )
