"""Registrations: a user's membership of an application, with role names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from identity.exceptions import ValidationFailed
from identity.models import Application, Registration, User

# User profile fields an external identity provider's claims may fill in.
MAPPABLE_USER_FIELDS = frozenset({"first_name", "middle_name", "last_name", "full_name", "username"})


def clean_roles(*, application: Application, roles: Iterable[str] | None) -> list[str]:
    known = {role.name.lower(): role.name for role in application.roles.all()}
    if roles is None:
        return sorted(role.name for role in application.roles.all() if role.is_default)
    cleaned: list[str] = []
    unknown: list[str] = []
    for raw in roles:
        name = known.get(str(raw).strip().lower())
        if name is None:
            unknown.append(str(raw))
        elif name not in cleaned:
            cleaned.append(name)
    if unknown:
        raise ValidationFailed.on_field(
            "registration.roles", "invalid", f"Not roles of the application: {', '.join(unknown)}."
        )
    return sorted(cleaned)


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
    if application.tenant_id != user.tenant_id:
        raise ValidationFailed.on_field(
            "registration.applicationId", "invalid", "The application belongs to another tenant."
        )
    if Registration.objects.filter(user=user, application=application).exists():
        raise ValidationFailed.on_field(
            "registration.applicationId", "duplicate", "The user is already registered for this application."
        )
    return Registration.objects.create(
        user=user,
        application=application,
        roles=clean_roles(application=application, roles=roles),
        username=username,
        data=data or {},
    )


@transaction.atomic
def registration_update(
    *,
    registration: Registration,
    roles: Iterable[str] | None = None,
    username: str | None = None,
    data: dict[str, Any] | None = None,
) -> Registration:
    """Change roles, username or data; role names are checked against the application's roles."""
    if roles is not None:
        registration.roles = clean_roles(application=registration.application, roles=roles)
    if username is not None:
        registration.username = username
    if data is not None:
        registration.data = data
    registration.save()
    return registration


@transaction.atomic
def registration_delete(*, registration: Registration) -> None:
    """Unregister; the user's refresh tokens for that application stop being usable with it."""
    from identity.services.refresh_tokens import RevokeReason, refresh_tokens_revoke

    refresh_tokens_revoke(
        user=registration.user, application=registration.application, reason=RevokeReason.API
    )
    registration.delete()
