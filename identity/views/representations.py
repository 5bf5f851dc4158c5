"""JSON shapes of users, registrations and refresh tokens, as FusionAuth's APIs return them.

Explicit field lists (never ModelSerializer): a new model column cannot leak into a response."""

from __future__ import annotations

from typing import Any

from identity.models import RefreshToken, Registration, User
from identity.serializers.common import instant


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, "")}


def registration_json(registration: Registration) -> dict[str, Any]:
    return _compact(
        {
            "id": str(registration.pk),
            "applicationId": str(registration.application_id),
            "roles": list(registration.roles),
            "username": registration.username,
            "data": registration.data,
            "verified": registration.verified,
            "insertInstant": instant(registration.created_at),
            "lastUpdateInstant": instant(registration.updated_at),
            "lastLoginInstant": instant(registration.last_login_at),
        }
    )


def user_json(user: User, registrations: list[Registration] | None = None) -> dict[str, Any]:
    body = _compact(
        {
            "id": str(user.pk),
            "tenantId": str(user.tenant_id),
            "email": user.email,
            "username": user.username,
            "firstName": user.first_name,
            "middleName": user.middle_name,
            "lastName": user.last_name,
            "fullName": user.full_name,
            "active": user.is_active,
            "verified": user.verified,
            "expiry": instant(user.expires_at),
            "data": user.data,
            "insertInstant": instant(user.created_at),
            "lastUpdateInstant": instant(user.updated_at),
            "lastLoginInstant": instant(user.last_login),
            "passwordLastUpdateInstant": instant(user.password_changed_at),
        }
    )
    if registrations is not None:
        body["registrations"] = [registration_json(r) for r in registrations]
    return body


def refresh_token_json(token: RefreshToken) -> dict[str, Any]:
    """FusionAuth's refresh-token object, without `token`: only its digest exists here."""
    return {
        "id": str(token.pk),
        "applicationId": str(token.application_id),
        "tenantId": str(token.tenant_id),
        "userId": str(token.user_id),
        "insertInstant": instant(token.created_at),
        "startInstant": instant(token.started_at),
        "expirationInstant": instant(token.expires_at),
        "metaData": {
            "device": _compact(
                {
                    "name": token.device_name,
                    "description": token.device_description,
                    "type": token.device_type,
                    "lastAccessedAddress": token.last_accessed_address,
                    "lastAccessedInstant": instant(token.last_used_at),
                }
            ),
            "scopes": list(token.scopes),
            "data": token.data,
        },
        "data": token.data,
    }
