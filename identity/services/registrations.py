"""Registrations: a user's membership of an application, with role names."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from identity.exceptions import NotFound, ValidationFailed, errors_keyed
from identity.models import Application, Registration, Tenant, User
from identity.selectors import application_of_tenant, registration_get
from identity.services.audit import audit_changes, audit_record, audit_snapshot
from identity.services.users import NewUser, user_create
from identity.validators import MAPPABLE_USER_FIELDS as MAPPABLE_USER_FIELDS  # for services.jwt
from identity.validators import registration_validate, roles_validate

# The API's error paths for the validators' model fields (identity.validators).
REGISTRATION_ERROR_PATHS = {
    "roles": "registration.roles",
    "application": "registration.applicationId",
    "data": "registration.data",
}


def clean_roles(*, application: Application, roles: Iterable[str] | None) -> list[str]:
    """Role names as the application spells them, sorted, each once (None: the application's
    default roles); unknown names are refused (identity.validators.roles_validate)."""
    roles = None if roles is None else list(roles)
    with errors_keyed(REGISTRATION_ERROR_PATHS):
        roles_validate(application=application, roles=roles)
    if roles is None:
        return sorted(role.name for role in application.roles.all() if role.is_default)
    known = {role.name.lower(): role.name for role in application.roles.all()}
    return sorted({known[str(name).strip().lower()] for name in roles})


@transaction.atomic
def registration_create(
    *,
    user: User,
    application: Application,
    roles: Iterable[str] | None = None,
    username: str = "",
    data: dict[str, Any] | None = None,
) -> Registration:
    """Register a user to an application of the same tenant. Without explicit roles the
    application's default roles are granted; unknown role names are refused, not silently dropped."""
    roles = None if roles is None else list(roles)
    with errors_keyed(REGISTRATION_ERROR_PATHS):
        registration_validate(
            values={"roles": roles, "data": data}, user=user, application=application, registration=None
        )
    registration = Registration.objects.create(
        user=user,
        application=application,
        roles=clean_roles(application=application, roles=roles),
        username=username,
        data=data or {},
    )
    audit_record(action="registration.create", obj=registration)
    return registration


def _application_named(*, user: User, application_id: uuid.UUID) -> Application:
    """The application a request body names for `user`: one of the user's tenant, else a field error."""
    application = application_of_tenant(tenant_id=user.tenant_id, application_id=application_id)
    if application is None:
        raise ValidationFailed.on_field(
            "registration.applicationId", "invalid", "No application of the user's tenant."
        )
    return application


@transaction.atomic
def registration_create_for(
    *,
    user: User,
    application_id: uuid.UUID,
    roles: Iterable[str] | None = None,
    username: str = "",
    data: dict[str, Any] | None = None,
) -> Registration:
    """`POST /api/user/registration/{userId}`: register an existing user to the application a
    request names by id (one of the user's tenant)."""
    application = _application_named(user=user, application_id=application_id)
    return registration_create(user=user, application=application, roles=roles, username=username, data=data)


@transaction.atomic
def registration_create_with_user(
    *,
    tenant: Tenant,
    user: NewUser,
    user_id: uuid.UUID | None = None,
    application_id: uuid.UUID,
    roles: Iterable[str] | None = None,
    username: str = "",
    data: dict[str, Any] | None = None,
) -> Registration:
    """FusionAuth's combined `POST /api/user/registration`: create the user and register them in
    one transaction, so a refused registration (an unknown role, an application of another tenant)
    leaves no user behind. The registration's `user` is the new user."""
    created = user_create(tenant=tenant, user_id=user_id, **user)
    return registration_create_for(
        user=created, application_id=application_id, roles=roles, username=username, data=data
    )


def registration_find(*, user: User, application_id: uuid.UUID, named_in_body: bool = False) -> Registration:
    """The registration of `user` to an application: not found (404) when there is none. An
    application named in a request body (not the path) must be one of the user's tenant, else
    it is a field error, as when registering."""
    if named_in_body:
        _application_named(user=user, application_id=application_id)
    registration = registration_get(user=user, application_id=application_id)
    if registration is None:
        raise NotFound()
    return registration


@transaction.atomic
def registration_update(
    *,
    registration: Registration,
    roles: Iterable[str] | None = None,
    username: str | None = None,
    data: dict[str, Any] | None = None,
) -> Registration:
    """Change roles, username or data; role names are checked against the application's roles."""
    application = registration.application
    roles = None if roles is None else list(roles)
    with errors_keyed(REGISTRATION_ERROR_PATHS):
        registration_validate(
            values={"roles": roles, "data": data},
            user=registration.user,
            application=application,
            registration=registration,
        )
    before = audit_snapshot(registration)
    if roles is not None:
        registration.roles = clean_roles(application=application, roles=roles)
    if username is not None:
        registration.username = username
    if data is not None:
        registration.data = data
    registration.save()
    audit_record(action="registration.update", obj=registration, diff=audit_changes(before, registration))
    return registration


@transaction.atomic
def registration_delete(*, registration: Registration) -> None:
    """Unregister; the user's refresh tokens for that application stop being usable with it."""
    from identity.services.refresh_tokens import RevokeReason, refresh_tokens_revoke

    refresh_tokens_revoke(
        user=registration.user, application=registration.application, reason=RevokeReason.API
    )
    audit_record(action="registration.delete", obj=registration, diff=audit_snapshot(registration))
    registration.delete()
