"""Login API: `POST /api/login`, `PUT /api/login/{userId}/{applicationId}`, `POST /api/logout`."""

from __future__ import annotations

from django.http import HttpResponseBase
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework import serializers
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.authentication import AnonymousCaller, APIKeyAuthentication, HasAPIKey, caller_of
from identity.cookies import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    clear_token_cookies,
    token_cookie,
)
from identity.http_cache import never_cache
from identity.parsers import SafeJSONParser
from identity.selectors import LOGIN_ID_TYPES
from identity.services.login import login, login_ping, logout
from identity.views.common import parse, path_uuid
from identity.views.tokens import MetaDataSerializer, device_info, login_response


class LoginInputSerializer(serializers.Serializer):
    loginId = serializers.CharField(max_length=320)
    # Bounded so a megabyte "password" is refused before any hashing work.
    password = serializers.CharField(max_length=1024, trim_whitespace=False)
    applicationId = serializers.UUIDField(required=False, allow_null=True)
    ipAddress = serializers.IPAddressField(required=False, allow_blank=True)
    noJWT = serializers.BooleanField(required=False, default=False)
    loginIdTypes = serializers.ListField(
        child=serializers.ChoiceField(choices=LOGIN_ID_TYPES), required=False, allow_empty=False, max_length=2
    )
    metaData = MetaDataSerializer(required=False)


@method_decorator([sensitive_post_parameters("password"), never_cache], name="dispatch")
class LoginApi(APIView):
    authentication_classes = [APIKeyAuthentication, AnonymousCaller]
    permission_classes = [AllowAny]

    throttle_scope = "login"

    def post(self, request: Request) -> HttpResponseBase:
        data = parse(LoginInputSerializer, request.data)
        result = login(
            caller=caller_of(request),
            application_id=data.get("applicationId"),
            login_id=data["loginId"],
            password=data["password"],
            login_id_types=tuple(data.get("loginIdTypes") or LOGIN_ID_TYPES),
            no_jwt=data["noJWT"],
            device=device_info(request, data),
        )
        return login_response(result)

    def put(self, request: Request) -> HttpResponseBase:
        """`PUT /api/login` with `{userId, applicationId, ipAddress}` (login_ping_with_request)."""
        data = parse(LoginPingInputSerializer, request.data)
        result = login_ping(
            caller=caller_of(request), user_id=data["userId"], application_id=data["applicationId"]
        )
        return login_response(result)


class LoginPingInputSerializer(serializers.Serializer):
    userId = serializers.UUIDField()
    applicationId = serializers.UUIDField()
    ipAddress = serializers.IPAddressField(required=False, allow_blank=True)


@method_decorator(never_cache, name="dispatch")
class LoginPingApi(APIView):
    """`PUT /api/login/{userId}/{applicationId}` (the SDK's login_ping)."""

    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def put(self, request: Request, user_id: str, application_id: str) -> HttpResponseBase:
        result = login_ping(
            caller=caller_of(request), user_id=path_uuid(user_id), application_id=path_uuid(application_id)
        )
        return login_response(result)


# `global` is a Python keyword, so this serializer's fields are given as a mapping.
LogoutInputSerializer: type[serializers.Serializer] = type(
    "LogoutInputSerializer",
    (serializers.Serializer,),
    {
        "global": serializers.BooleanField(required=False, default=False),
        "refreshToken": serializers.CharField(required=False, allow_blank=True, max_length=512),
    },
)


@method_decorator(never_cache, name="dispatch")
class LogoutApi(APIView):
    """Revokes the refresh token and clears the cookies. A token passed as a parameter (query or
    body) wins over the cookie, as in FusionAuth."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [SafeJSONParser, FormParser]

    def post(self, request: Request) -> Response:
        source = request.query_params if request.query_params else request.data
        data = parse(LogoutInputSerializer, source if hasattr(source, "get") else {})
        # Another site's form post carrying the user's cookies is refused, not a logout (CSRF).
        cookie = token_cookie(request, REFRESH_COOKIE)
        token_cookie(request, ACCESS_COOKIE)
        value = data.get("refreshToken") or cookie
        logout(refresh_token_value=value, everywhere=data.get("global", False))
        response = Response(status=200)
        clear_token_cookies(response)
        return response
