"""Users: creation, passwords, activation, deletion."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Required, TypedDict, Unpack

from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, transaction
from django.utils import timezone

from identity.exceptions import ValidationFailed, errors_keyed
from identity.login_ids import login_id_key
from identity.models import Tenant, User
from identity.services.audit import audit_changes, audit_record, audit_snapshot
from identity.services.login import failed_logins_clear, login_target, password_verify
from identity.services.personal_access_tokens import pats_revoke_for_user
from identity.services.refresh_tokens import RevokeReason, refresh_tokens_revoke
from identity.services.webhooks import user_event_emit
from identity.validators import email_validate, login_id_validate, user_password_validate, user_validate

if TYPE_CHECKING:
    from identity.caller import Caller


class UserFields(TypedDict, total=False):
    """Profile and status fields callers may set on a user."""

    first_name: str
    middle_name: str
    last_name: str
    full_name: str
    is_active: bool
    is_staff: bool
    is_superuser: bool
    is_bot: bool
    verified: bool
    expires_at: datetime | None
    locked_until: datetime | None
    data: dict[str, Any]


class UserChanges(UserFields, total=False):
    email: str
    username: str | None


class NewUser(UserFields, total=False):
    """A user to create, as `user_create` takes it (the API's `user` object)."""

    email: Required[str]
    username: str | None
    password: str | None


# Checked at run time too, for callers that cannot be typed (UserManager, from createsuperuser).
USER_FIELDS = frozenset(UserFields.__optional_keys__) | {"username"}


def login_id_checked(*, field: str, label: str, value: str) -> str:
    """The key of a new email or username (`label`; identity.validators.login_id_validate), errors
    on `field`; uniqueness is the caller's (one query, or one per batch)."""
    with errors_keyed({label: field}):
        return login_id_validate(field=label, value=value)


def email_checked(email: str, field: str = "user.email") -> str:
    """The email, trimmed and valid (identity.validators.email_validate), errors on `field`."""
    with errors_keyed({"email": field}):
        email_validate(email=email)
    return email.strip()


# The API's error paths for the validators' model fields (identity.validators).
USER_ERROR_PATHS = {
    "email": "user.email",
    "username": "user.username",
    "password": "user.password",
    "data": "user.data",
}


def _login_ids(*, tenant: Tenant, values: Mapping[str, Any], user: User | None) -> dict[str, Any]:
    """The email and username in `values`, validated (identity.validators.user_validate: look-alikes
    refused, unique in the tenant by their keys, and `data` when there), trimmed and with their keys."""
    with errors_keyed(USER_ERROR_PATHS):
        user_validate(values=values, tenant=tenant, user=user)
    cleaned: dict[str, Any] = {}
    if "email" in values:
        cleaned["email"] = values["email"].strip()
        cleaned["email_key"] = login_id_key(cleaned["email"])
    if "username" in values:
        cleaned["username"] = (values["username"] or "").strip() or None
        cleaned["username_key"] = login_id_key(cleaned["username"]) if cleaned["username"] else None
    return cleaned


_UNIQUE_KEYS = {
    # How each database names the constraint in its error: PostgreSQL by name, SQLite by columns.
    "email": ("identity_user_email_key_per_tenant", "identity_user.tenant_id, identity_user.email_key"),
    "username": (
        "identity_user_username_key_per_tenant",
        "identity_user.tenant_id, identity_user.username_key",
    ),
    "id": ("identity_user_pkey", "UNIQUE constraint failed: identity_user.id"),
}
_KEY_FIELDS = {"email": "user.email", "username": "user.username", "id": "userId"}


def user_unique_key_violated(error: IntegrityError) -> str | None:
    """Which of a user's unique keys (`email`, `username`, `id`) a failed insert ran into, on
    PostgreSQL or SQLite; None when the error is about something else. For the services that turn
    a twin created behind their checks into a `[duplicate]` error (user creation and import)."""
    text = str(error)
    return next((key for key, names in _UNIQUE_KEYS.items() if any(name in text for name in names)), None)


def _save_unique(user: User) -> None:
    """Save, turning a unique violation (a concurrent twin that passed the checks above) into the
    same `[duplicate]` field error instead of a 500."""
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        key = user_unique_key_violated(exc)
        if key is None:
            raise
        raise ValidationFailed.on_field(
            _KEY_FIELDS[key], "duplicate", f"A user with this {key} already exists."
        ) from exc


def _check_password(password: str, user: User, field: str = "user.password") -> None:
    with errors_keyed({"password": field}):
        user_password_validate(password=password, user=user)


@transaction.atomic
def user_create(
    *,
    tenant: Tenant,
    email: str,
    password: str | None = None,
    username: str | None = None,
    user_id: uuid.UUID | None = None,
    **fields: Unpack[UserFields],
) -> User:
    """Create a user of one tenant. Email and username are unique per tenant by their keys
    (identity.login_ids: look-alikes refused, case folded once), checked here for a clear field
    error and again by the database constraints against races (also a `[duplicate]`). A user
    created without a password cannot log in with one until a password is set."""
    unknown = set(fields) - USER_FIELDS
    if unknown:
        raise TypeError(f"Unknown user fields: {', '.join(sorted(unknown))}")
    if user_id is not None and User.objects.filter(pk=user_id).exists():
        raise ValidationFailed.on_field("userId", "duplicate", "A user with this id already exists.")
    checked = {"email": email, "username": username, **fields}
    login_ids = _login_ids(tenant=tenant, values=checked, user=None)
    user = User(id=user_id or uuid.uuid4(), tenant=tenant, **login_ids, **fields)
    if password is not None and fields.get("is_bot"):
        raise ValidationFailed.on_field("user.password", "invalid", "A bot has no password.")
    if password is None:
        user.set_unusable_password()
    else:
        _check_password(password, user)
        user.set_password(password)
        user.password_changed_at = timezone.now()
    _save_unique(user)
    audit_record(action="user.create", obj=user)
    user_event_emit(type="user.create", user=user)
    return user


@transaction.atomic
def user_update(*, user: User, **changes: Unpack[UserChanges]) -> User:
    """Change profile fields; email and username stay unique in the tenant."""
    unknown = set(changes) - USER_FIELDS - {"email"}
    if unknown:
        raise TypeError(f"Unknown user fields: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = dict(changes)
    values.update(_login_ids(tenant=user.tenant, values=dict(values), user=user))
    deactivating = changes.get("is_active") is False and user.is_active
    before = audit_snapshot(user)
    for name, value in values.items():
        setattr(user, name, value)
    _save_unique(user)
    audit_record(action="user.update", obj=user, diff=audit_changes(before, user))
    user_event_emit(type="user.update", user=user)
    if deactivating:
        refresh_tokens_revoke(user=user, reason=RevokeReason.USER_DEACTIVATED)
        pats_revoke_for_user(user=user)
    return user


@transaction.atomic
def user_update_with_password(
    *, user: User, password: str | None = None, unlock: bool = False, **changes: Unpack[UserChanges]
) -> User:
    """The API's PUT/PATCH of a user: profile changes, when sent a new password, and with `unlock`
    the lockout lifted (user_unlock, as the console lifts it), all or nothing (a password the policy
    refuses leaves the profile and the lock unchanged too)."""
    user = user_update(user=user, **changes)
    if password is not None:
        user = user_set_password(user=user, password=password)
    if unlock:
        user = user_unlock(user=user)
    return user


@transaction.atomic
def user_set_password(*, user: User, password: str, now: datetime | None = None) -> User:
    """Set a new password (Argon2id). With the tenant's onPasswordChanged policy on, every refresh
    token of the user is revoked, so a stolen session does not survive a password reset."""
    if user.is_bot:
        raise ValidationFailed.on_field("user.password", "invalid", "A bot has no password.")
    _check_password(password, user)
    user.set_password(password)
    user.password_changed_at = now or timezone.now()
    user.save(update_fields=["password", "password_changed_at", "updated_at"])
    audit_record(action="user.password_change", obj=user)
    if user.tenant.revoke_on_password_changed:
        refresh_tokens_revoke(user=user, reason=RevokeReason.PASSWORD_CHANGED)
    if user.tenant.revoke_access_tokens_on_password_changed:
        pats_revoke_for_user(user=user, by="password changed")
    return user


@transaction.atomic
def user_unlock(*, user: User) -> User:
    """Lift a lockout after too many failed logins (the console's Unlock and the API's
    `{"user": {"locked": false}}` both come here): the user may log in again at once, and the
    failures counted so far are forgotten. Sessions revoked by the lockout stay revoked."""
    before = audit_snapshot(user)
    user.locked_until = None
    user.failed_login_count = 0
    user.failed_login_window_started_at = None
    user.save(
        update_fields=["locked_until", "failed_login_count", "failed_login_window_started_at", "updated_at"]
    )
    audit_record(action="user.unlock", obj=user, diff=audit_changes(before, user))
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Hard delete; the user's registrations and refresh tokens go with the row."""
    pats_revoke_for_user(user=user)  # their ids stay refused everywhere after the rows are gone
    audit_record(action="user.delete", obj=user, diff=audit_snapshot(user))
    user_event_emit(type="user.delete", user=user)
    user.delete()


def user_change_password(
    *, tenant: Tenant, login_id: str, current_password: str, password: str, now: datetime | None = None
) -> User:
    """Change a password by proving the current one (FusionAuth's change-password by identity).

    The proof is checked by the login's own door (password_verify), so this is no second, unlimited
    password oracle: failures count against the same lockout, a locked account is refused (409)
    without a check, deactivated (423) and expired (410) accounts are refused as login refuses
    them. The new password is validated first, the same way for every login id (against the login
    id alone), so a right and a wrong current password get the same 400 and the 400 says nothing
    about the account; its own attributes are compared once the caller has proven the password.
    The tenant's revocation policy applies."""
    now = now or timezone.now()
    _check_password(password, User(tenant=tenant, email=login_id, username=login_id), "password")
    user = password_verify(tenant=tenant, login_id=login_id, password=current_password, now=now)
    try:
        _check_password(password, user, "password")
        return user_set_password(user=user, password=password, now=now)
    finally:
        failed_logins_clear(user=user)  # the current password was right


def user_change_password_as(
    *,
    caller: Caller,
    application_id: uuid.UUID | None,
    login_id: str,
    current_password: str,
    password: str,
) -> User:
    """`/api/user/change-password` by identity: the tenant is found as `/api/login` finds it (so it
    asks for what login asks for: an API key when the application, or without one the tenant,
    requires authentication), then `user_change_password`."""
    tenant, _ = login_target(caller=caller, application_id=application_id)
    return user_change_password(
        tenant=tenant, login_id=login_id, current_password=current_password, password=password
    )


# --- Console-only user operations (the admin's; kept apart from the API's user services above) -----


@transaction.atomic
def user_console_update(
    *,
    user: User,
    groups: Iterable[Group] | None = None,
    user_permissions: Iterable[Permission] | None = None,
    **changes: Unpack[UserChanges],
) -> User:
    """`user_update` plus Django's console permissions (groups and user permissions), which only the
    console sets and only staff of the default tenant use; None leaves them as they are."""
    user = user_update(user=user, **changes)
    if groups is not None:
        user.groups.set(groups)
    if user_permissions is not None:
        user.user_permissions.set(user_permissions)
    return user
