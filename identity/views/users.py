"""Provisioning: `/api/user`, `/api/user/registration`, `/api/user/change-password`, `/api/api-key`."""

from __future__ import annotations

from typing import Any

from django.utils.decorators import method_decorator
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from identity.authentication import (
    AnonymousCaller,
    APIKeyAuthentication,
    HasAPIKey,
    HasKeyManagerAPIKey,
    caller_of,
)
from identity.exceptions import NotFound, ValidationFailed
from identity.http_cache import never_cache
from identity.models import APIKey, User
from identity.selectors import api_key_get, user_find, user_get
from identity.serializers.api_keys import APIKeySerializer, APIKeyUpdateSerializer
from identity.serializers.common import parse_body
from identity.serializers.registrations import RegistrationSerializer
from identity.serializers.users import (
    ChangePasswordSerializer,
    UserDeleteSerializer,
    UserSearchSerializer,
    UserSerializer,
    parse_new_user,
    parse_user_changes,
    user_body,
)
from identity.services.api_keys import api_key_create_as, api_key_delete, api_key_update
from identity.services.registrations import (
    registration_create_for,
    registration_create_with_user,
    registration_delete,
    registration_find,
    registration_update,
)
from identity.services.users import (
    NewUser,
    user_change_password_as,
    user_create,
    user_delete,
    user_update,
    user_update_with_password,
)
from identity.views.common import optional_path_uuid, parse, path_uuid, query_flag


def _user(request: Request, user_id: str | None) -> User:
    return caller_of(request).visible(user_get(user_id=path_uuid(user_id)))


def _registered_user(request: Request, user_id: str | None) -> User:
    """The existing user a registration without a `user` object is for: the one in the path."""
    if not user_id:
        raise ValidationFailed.on_field("user", "missing", "Send a user, or register an existing user by id.")
    return _user(request, user_id)


# Users (with their data) and API-key values are never stored by a cache: Cache-Control no-store.
@method_decorator(never_cache, name="dispatch")
class UserViewSet(viewsets.ViewSet):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def create(self, request: Request, pk: str | None = None) -> Response:
        user_id = optional_path_uuid(pk)  # a path that is no id is a 404 before the body is read
        values = parse_new_user(request.data)
        user = user_create(tenant=caller_of(request).tenant(), user_id=user_id, **values)
        return Response({"user": UserSerializer(user).data})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"user": UserSerializer(_user(request, pk)).data})

    def search(self, request: Request) -> Response:
        """`GET /api/user?email=` / `?username=` / `?loginId=` in the request's tenant."""
        criteria = parse(UserSearchSerializer, request.query_params.dict())
        user = user_find(tenant=caller_of(request).tenant(), **criteria)
        if user is None:
            raise NotFound()
        return Response({"user": UserSerializer(user).data})

    def update(self, request: Request, pk: str | None = None) -> Response:
        """`?reactivate=true` reactivates; otherwise PUT and PATCH change only what they send
        (`"locked": false` unlocks); an unknown member in a PATCH is a 400."""
        user = _user(request, pk)
        if query_flag(request, "reactivate"):
            return Response({"user": UserSerializer(user_update(user=user, is_active=True)).data})
        changes = parse_user_changes(request.data, strict=request.method == "PATCH")
        user = user_update_with_password(user=user, **changes)
        return Response({"user": UserSerializer(user).data})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Deactivate, as FusionAuth does; `?hardDelete=true`, or a body `{"hardDelete": true}`
        (the SDK's delete_user_with_request), deletes the user and all sessions."""
        user = _user(request, pk)
        body = parse(UserDeleteSerializer, request.data) if request.data else {"hardDelete": False}
        if query_flag(request, "hardDelete") or body["hardDelete"]:
            user_delete(user=user)
        else:
            user_update(user=user, is_active=False)
        return Response(status=200)


def _registration_and_user(data: Any) -> tuple[dict[str, Any], NewUser]:
    """Both halves of a combined registration, the field errors of both in one 400 (FusionAuth
    names them all at once, not the registration's on one try and the user's on the next)."""
    try:
        values = parse_body(data, "registration", RegistrationSerializer)
    except ValidationError as registration_errors:
        try:
            parse_new_user(data)
        except ValidationError as user_errors:
            raise ValidationError(_merged(registration_errors.detail, user_errors.detail)) from None
        raise
    return values, parse_new_user(data)


def _merged(first: Any, second: Any) -> Any:
    """Two DRF error details of one body (`{"registration": …}`, `{"user": …}`) as one."""
    if isinstance(first, dict) and isinstance(second, dict):
        return {**first, **second}
    return first


@method_decorator(never_cache, name="dispatch")
class RegistrationViewSet(viewsets.ViewSet):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def create(self, request: Request, user_id: str | None = None) -> Response:
        """Register an existing user, or (with a `user` object) create the user and register them
        in one transaction, as FusionAuth's combined registration does."""
        if "user" in request.data:
            chosen = optional_path_uuid(user_id)  # a path that is no id is a 404 before the body
            values, new_user = _registration_and_user(request.data)
            registration = registration_create_with_user(
                tenant=caller_of(request).tenant(), user=new_user, user_id=chosen, **values
            )
        else:
            owner = _registered_user(request, user_id)
            values = parse_body(request.data, "registration", RegistrationSerializer)
            registration = registration_create_for(user=owner, **values)
        user = user_body(registration.user)
        return Response({"registration": RegistrationSerializer(registration).data, "user": user})

    def retrieve(
        self, request: Request, user_id: str | None = None, application_id: str | None = None
    ) -> Response:
        registration = registration_find(
            user=_user(request, user_id), application_id=path_uuid(application_id)
        )
        return Response({"registration": RegistrationSerializer(registration).data})

    def update(
        self, request: Request, user_id: str | None = None, application_id: str | None = None
    ) -> Response:
        """The application comes from the path, or else from the body's `applicationId`."""
        values = parse_body(
            request.data,
            "registration",
            RegistrationSerializer,
            partial=True,
            strict=request.method == "PATCH",
        )
        named = values.pop("application_id", None)
        registration = registration_find(
            user=_user(request, user_id),
            application_id=path_uuid(application_id) if application_id else named,
            named_in_body=not application_id,
        )
        registration = registration_update(registration=registration, **values)
        return Response({"registration": RegistrationSerializer(registration).data})

    def destroy(
        self, request: Request, user_id: str | None = None, application_id: str | None = None
    ) -> Response:
        registration = registration_find(
            user=_user(request, user_id), application_id=path_uuid(application_id)
        )
        registration_delete(registration=registration)
        return Response(status=200)


@method_decorator(never_cache, name="dispatch")
class ChangePasswordViewSet(viewsets.ViewSet):
    """`POST /api/user/change-password` with `{loginId, currentPassword, password, applicationId?}`.
    It asks what `/api/login` asks (an API key when the application, or without one the tenant,
    requires authentication) and checks the current password through the login's door. Reset links
    (`/{changePasswordId}`) are not part of this service yet and answer 404."""

    throttle_scope = "login"  # a password check: the login's budget
    authentication_classes = [APIKeyAuthentication, AnonymousCaller]
    permission_classes = [AllowAny]

    def create(self, request: Request, change_password_id: str | None = None) -> Response:
        if change_password_id:
            raise NotFound()
        values = parse(ChangePasswordSerializer, request.data if isinstance(request.data, dict) else {})
        user_change_password_as(caller=caller_of(request), **values)
        return Response(status=200)


@method_decorator(never_cache, name="dispatch")
class APIKeyViewSet(viewsets.ViewSet):
    """Only key-manager keys; what they create or change never exceeds what they hold."""

    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasKeyManagerAPIKey]

    def _get(self, request: Request, pk: str | None) -> APIKey:
        return caller_of(request).visible(api_key_get(api_key_id=path_uuid(pk)))

    def create(self, request: Request, pk: str | None = None) -> Response:
        key_id = optional_path_uuid(pk)
        values = parse_body(request.data, "apiKey", APIKeySerializer)
        api_key, value = api_key_create_as(caller=caller_of(request), key_id=key_id, **values)
        return Response({"apiKey": APIKeySerializer(api_key, context={"key": value}).data})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"apiKey": APIKeySerializer(self._get(request, pk)).data})

    def update(self, request: Request, pk: str | None = None) -> Response:
        """PUT and PATCH change only what they send."""
        api_key = self._get(request, pk)
        values = parse_body(
            request.data, "apiKey", APIKeyUpdateSerializer, partial=True, strict=request.method == "PATCH"
        )
        api_key = api_key_update(api_key=api_key, editor=caller_of(request).key(), **values)
        return Response({"apiKey": APIKeySerializer(api_key).data})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_key_delete(api_key=self._get(request, pk), caller=caller_of(request).key())
        return Response(status=200)
