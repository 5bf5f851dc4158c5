"""Provisioning: `/api/user`, `/api/user/registration`, `/api/user/change-password`, `/api/api-key`."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from rest_framework import viewsets
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
from identity.models import APIKey, Application, Registration, Tenant, User
from identity.selectors import user_get_by_login_id
from identity.serializers.common import instant
from identity.services.api_keys import api_key_create, api_key_delete, api_key_update
from identity.services.login import login_target
from identity.services.registrations import registration_create, registration_delete, registration_update
from identity.services.users import (
    user_change_password,
    user_create,
    user_delete,
    user_set_password,
    user_update,
)
from identity.views.common import body_object, path_uuid
from identity.views.mapping import (
    USER_SPECS,
    read_bool,
    read_dict,
    read_instant,
    read_object,
    read_str,
    read_uuid,
)
from identity.views.representations import registration_json, user_json


def _password(payload: Any, path: str) -> str | None:
    value = payload.get("password") if isinstance(payload, dict) else None
    return None if value is None else read_str(1024, blank=False)(value, path)


def _user_response(user: User) -> Response:
    return Response({"user": user_json(user, list(user.registrations.order_by("created_at")))})


def _registration_values(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValidationFailed.on_field("registration", "invalid", "registration must be a JSON object.")
    values: dict[str, Any] = {}
    if "roles" in payload:
        roles = payload["roles"]
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ValidationFailed.on_field("registration.roles", "invalid", "roles must be a list of names.")
        values["roles"] = roles
    if "username" in payload:
        values["username"] = read_str(191)(payload["username"] or "", "registration.username")
    if "data" in payload:
        values["data"] = read_dict(payload["data"], "registration.data")
    return values


# Users (with their data) and API-key values are never stored by a cache: Cache-Control no-store.
@method_decorator(never_cache, name="dispatch")
class UserViewSet(viewsets.ViewSet):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def _get(self, request: Request, pk: str | None) -> User:
        return caller_of(request).visible(
            User.objects.select_related("tenant").filter(pk=path_uuid(pk)).first()
        )

    def create(self, request: Request, pk: str | None = None) -> Response:
        with transaction.atomic():
            user = _create_user(request, body_object(request, "user"), path_uuid(pk) if pk else None)
        return _user_response(user)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return _user_response(self._get(request, pk))

    def search(self, request: Request) -> Response:
        """`GET /api/user?email=` / `?username=` / `?loginId=` in the request's tenant."""
        tenant = caller_of(request).tenant()
        params = request.query_params
        for name, types in (
            ("email", ("email",)),
            ("username", ("username",)),
            ("loginId", ("email", "username")),
        ):
            if params.get(name):
                login_id = read_str(320)(params[name], name)
                user = user_get_by_login_id(tenant=tenant, login_id=login_id, types=types)
                if user is None:
                    raise NotFound()
                return _user_response(user)
        raise ValidationFailed.on_field("email", "missing", "Send email, username or loginId.")

    def update(self, request: Request, pk: str | None = None) -> Response:
        user = self._get(request, pk)
        if request.query_params.get("reactivate") == "true":
            return _user_response(user_update(user=user, is_active=True))
        payload = body_object(request, "user")
        values = read_object(payload, "user", USER_SPECS)
        password = _password(payload, "user.password")
        with transaction.atomic():
            user = user_update(user=user, **values)
            if password is not None:
                user = user_set_password(user=user, password=password)
        return _user_response(user)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Deactivate, as FusionAuth does; `?hardDelete=true` deletes the user and all sessions."""
        user = self._get(request, pk)
        if request.query_params.get("hardDelete") == "true":
            user_delete(user=user)
        else:
            user_update(user=user, is_active=False)
        return Response(status=200)


def _create_user(request: Request, payload: Any, user_id: uuid.UUID | None) -> User:
    values = read_object(payload, "user", USER_SPECS)
    if "email" not in values:
        raise ValidationFailed.on_field("user.email", "blank", "An email address is required.")
    if isinstance(request.data, dict) and request.data.get("skipVerification") is True:
        values["verified"] = True
    email = values.pop("email")
    username = values.pop("username", None)
    return user_create(
        tenant=caller_of(request).tenant(),
        email=email,
        username=username,
        password=_password(payload, "user.password"),
        user_id=user_id,
        **values,
    )


def _application_of(user: User, payload: Any) -> Application:
    application_id = read_uuid(payload.get("applicationId") if isinstance(payload, dict) else None,
                               "registration.applicationId")  # fmt: skip
    application = Application.objects.filter(pk=application_id, tenant_id=user.tenant_id).first()
    if application is None:
        raise ValidationFailed.on_field(
            "registration.applicationId", "invalid", "No application of the user's tenant."
        )
    return application


@method_decorator(never_cache, name="dispatch")
class RegistrationViewSet(viewsets.ViewSet):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def _user(self, request: Request, user_id: str | None) -> User:
        return caller_of(request).visible(
            User.objects.select_related("tenant").filter(pk=path_uuid(user_id)).first()
        )

    def _registration(self, request: Request, user_id: str | None, application_id: Any) -> Registration:
        user = self._user(request, user_id)
        registration = (
            Registration.objects.select_related("application", "user")
            .filter(user=user, application_id=application_id)
            .first()
        )
        if registration is None:
            raise NotFound()
        return registration

    def create(self, request: Request, user_id: str | None = None) -> Response:
        """Register an existing user, or (with a `user` object) create the user and register them
        in one transaction, as FusionAuth's combined registration does."""
        payload = body_object(request, "registration")
        data = request.data if isinstance(request.data, dict) else {}
        with transaction.atomic():
            if "user" in data:
                user = _create_user(request, data["user"], path_uuid(user_id) if user_id else None)
            elif user_id:
                user = self._user(request, user_id)
            else:
                raise ValidationFailed.on_field(
                    "user", "missing", "Send a user, or register an existing user by id."
                )
            registration = registration_create(
                user=user, application=_application_of(user, payload), **_registration_values(payload)
            )
        return Response({"registration": registration_json(registration), "user": user_json(user)})

    def retrieve(
        self, request: Request, user_id: str | None = None, application_id: str | None = None
    ) -> Response:
        return Response(
            {
                "registration": registration_json(
                    self._registration(request, user_id, path_uuid(application_id))
                )
            }
        )

    def update(
        self, request: Request, user_id: str | None = None, application_id: str | None = None
    ) -> Response:
        payload = body_object(request, "registration")
        target = (
            path_uuid(application_id)
            if application_id
            else _application_of(self._user(request, user_id), payload).pk
        )
        registration = self._registration(request, user_id, target)
        registration = registration_update(registration=registration, **_registration_values(payload))
        return Response({"registration": registration_json(registration)})

    def destroy(
        self, request: Request, user_id: str | None = None, application_id: str | None = None
    ) -> Response:
        registration_delete(registration=self._registration(request, user_id, path_uuid(application_id)))
        return Response(status=200)


@method_decorator(never_cache, name="dispatch")
class ChangePasswordViewSet(viewsets.ViewSet):
    """`POST /api/user/change-password` with `{loginId, currentPassword, password, applicationId?}`.
    It asks what `/api/login` asks (an API key when the application, or without one the tenant,
    requires authentication) and checks the current password through the login's door. Reset links
    (`/{changePasswordId}`) are not part of this service yet and answer 404."""

    authentication_classes = [APIKeyAuthentication, AnonymousCaller]
    permission_classes = [AllowAny]

    def create(self, request: Request, change_password_id: str | None = None) -> Response:
        if change_password_id:
            raise NotFound()
        data = request.data if isinstance(request.data, dict) else {}
        errors = ValidationFailed()
        for name in ("loginId", "currentPassword", "password"):
            if not isinstance(data.get(name), str) or not data[name]:
                errors.add(name, "blank", f"{name} is required.")
        if errors:
            raise errors
        tenant, _ = login_target(
            caller=caller_of(request),
            application_id=read_uuid(data["applicationId"], "applicationId")
            if data.get("applicationId")
            else None,
        )
        user_change_password(
            tenant=tenant,
            login_id=read_str(320)(data["loginId"], "loginId"),
            current_password=read_str(1024)(data["currentPassword"], "currentPassword"),
            password=read_str(1024)(data["password"], "password"),
        )
        return Response(status=200)


def api_key_json(api_key: APIKey, value: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(api_key.pk),
        "name": api_key.name,
        "metaData": {"attributes": {"description": api_key.description}},
        "permissions": {"endpoints": api_key.permissions},
        "tenantId": str(api_key.tenant_id) if api_key.tenant_id else None,
        "keyManager": api_key.key_manager,
        "expirationInstant": instant(api_key.expires_at),
        "insertInstant": instant(api_key.created_at),
        "lastUpdateInstant": instant(api_key.updated_at),
        "prefix": api_key.prefix,
    }
    if value is not None:
        body["key"] = value  # shown only in the response that created it
    return {k: v for k, v in body.items() if v is not None}


def _api_key_fields(payload: Any, current: APIKey | None) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValidationFailed.on_field("apiKey", "invalid", "apiKey must be a JSON object.")
    meta = payload.get("metaData") or {}
    description = (meta.get("attributes") or {}).get("description") if isinstance(meta, dict) else None
    permissions = payload.get("permissions", {"endpoints": current.permissions} if current else {})
    endpoints = permissions.get("endpoints", {}) if isinstance(permissions, dict) else permissions
    expires = payload.get("expirationInstant", None if current is None else instant(current.expires_at))
    return {
        "name": read_str(191)(payload.get("name", current.name if current else "") or "", "apiKey.name"),
        "description": read_str(255)(
            description if description is not None else (current.description if current else ""),
            "apiKey.metaData.attributes.description",
        ),
        "permissions": endpoints,
        "expires_at": read_instant(expires, "apiKey.expirationInstant"),
    }


@method_decorator(never_cache, name="dispatch")
class APIKeyViewSet(viewsets.ViewSet):
    """Only key-manager keys; what they create or change never exceeds what they hold."""

    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasKeyManagerAPIKey]

    def _get(self, request: Request, pk: str | None) -> APIKey:
        return caller_of(request).visible(APIKey.objects.filter(pk=path_uuid(pk)).first())

    def create(self, request: Request, pk: str | None = None) -> Response:
        payload = body_object(request, "apiKey")
        fields = _api_key_fields(payload, None)
        tenant = self._tenant(request, payload)
        key_manager = read_bool(payload.get("keyManager", False), "apiKey.keyManager")
        supplied = payload.get("key")
        api_key, value = api_key_create(
            tenant=tenant,
            key_manager=key_manager,
            key=read_str(512)(supplied, "apiKey.key") if supplied is not None else None,
            key_id=path_uuid(pk) if pk else None,
            creator=caller_of(request).key(),
            **fields,
        )
        return Response({"apiKey": api_key_json(api_key, value)})

    def _tenant(self, request: Request, payload: dict[str, Any]) -> Tenant | None:
        raw = payload.get("tenantId")
        if raw is None:
            caller = caller_of(request)
            return caller.tenant() if caller.tenant_id is not None else None
        tenant = Tenant.objects.filter(pk=read_uuid(raw, "apiKey.tenantId")).first()
        if tenant is None:
            raise ValidationFailed.on_field("apiKey.tenantId", "invalid", "No tenant has this id.")
        return tenant

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"apiKey": api_key_json(self._get(request, pk))})

    def update(self, request: Request, pk: str | None = None) -> Response:
        api_key = self._get(request, pk)
        fields = _api_key_fields(body_object(request, "apiKey"), api_key)
        return Response(
            {
                "apiKey": api_key_json(
                    api_key_update(api_key=api_key, editor=caller_of(request).key(), **fields)
                )
            }
        )

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_key_delete(api_key=self._get(request, pk), caller=caller_of(request).key())
        return Response(status=200)
