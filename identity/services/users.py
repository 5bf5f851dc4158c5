"""Users: creation, passwords, activation, deletion."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Required, TypedDict, Unpack

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from identity.exceptions import ValidationFailed
from identity.login_ids import MAX_KEY_LENGTH, login_id_in_normal_form, login_id_key
from identity.models import Tenant, User
from identity.services.audit import audit_changes, audit_record, audit_snapshot
from identity.services.login import failed_logins_clear, login_target, password_verify
from identity.services.refresh_tokens import RevokeReason, refresh_tokens_revoke
from identity.services.webhooks import user_event_emit

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
    """The key of a new email or username, which must be in normal form (no look-alikes,
    identity.login_ids) and short enough; uniqueness is the caller's (one query, or one per batch)."""
    if not login_id_in_normal_form(value):
        raise ValidationFailed.on_field(
            field, "invalid", f"The {label} contains look-alike characters; type it in its plain form."
        )
    key = login_id_key(value)
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed.on_field(field, "tooLong", f"The {label} is too long.")
    return key


def _login_id(*, tenant: Tenant, field: str, label: str, value: str, key_field: str, exclude_pk: Any) -> str:
    """The key of a new email or username (login_id_checked), unused in the tenant."""
    key = login_id_checked(field=field, label=label, value=value)
    clash = User.objects.filter(tenant=tenant, **{key_field: key})
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationFailed.on_field(field, "duplicate", f"A user with this {label} already exists.")
    return key


def email_checked(email: str, field: str = "user.email") -> str:
    """The email, trimmed and valid. The local part must be ASCII: Django's validator means it to
    be, but its case-insensitive pattern also lets through exactly four look-alike letters (KELVIN
    SIGN, long s, dotless i, dotted capital I). The domain may be internationalised."""
    email = (email or "").strip()
    if not email:
        raise ValidationFailed.on_field(field, "blank", "An email address is required.")
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationFailed.on_field(field, "invalid", "This is not a valid email address.") from exc
    if not email.rpartition("@")[0].isascii():
        raise ValidationFailed.on_field(
            field, "invalid", "The part before @ may only use ASCII letters, digits and symbols."
        )
    return email


def _clean_email(*, tenant: Tenant, email: str, exclude_pk: Any = None) -> tuple[str, str]:
    """The email (email_checked) and its key, unused in the tenant."""
    email = email_checked(email)
    key = _login_id(
        tenant=tenant,
        field="user.email",
        label="email",
        value=email,
        key_field="email_key",
        exclude_pk=exclude_pk,
    )
    return email, key


def _clean_username(
    *, tenant: Tenant, username: str | None, exclude_pk: Any = None
) -> tuple[str | None, str | None]:
    """The username and its key (both None without a username)."""
    if username is None or not username.strip():
        return None, None
    username = username.strip()
    key = _login_id(
        tenant=tenant,
        field="user.username",
        label="username",
        value=username,
        key_field="username_key",
        exclude_pk=exclude_pk,
    )
    return username, key


_UNIQUE_FIELDS = {
    "identity_user_email_key_per_tenant": ("user.email", "email"),
    "identity_user_username_key_per_tenant": ("user.username", "username"),
    "identity_user_pkey": ("userId", "id"),
}


def _save_unique(user: User) -> None:
    """Save, turning a unique violation (a concurrent twin that passed the checks above) into the
    same `[duplicate]` field error instead of a 500."""
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        text = str(exc)
        for constraint, (field, label) in _UNIQUE_FIELDS.items():
            if constraint in text:
                raise ValidationFailed.on_field(
                    field, "duplicate", f"A user with this {label} already exists."
                ) from exc
        raise


def _check_password(password: str, user: User, field: str = "user.password") -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        errors = ValidationFailed()
        for message in exc.messages:
            errors.add(field, "invalid", message)
        raise errors from exc


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
    email, email_key = _clean_email(tenant=tenant, email=email)
    username, username_key = _clean_username(tenant=tenant, username=username)
    user = User(
        id=user_id or uuid.uuid4(),
        tenant=tenant,
        email=email,
        email_key=email_key,
        username=username,
        username_key=username_key,
        **fields,
    )
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
    if "email" in changes:
        values["email"], values["email_key"] = _clean_email(
            tenant=user.tenant, email=changes["email"], exclude_pk=user.pk
        )
    if "username" in changes:
        values["username"], values["username_key"] = _clean_username(
            tenant=user.tenant, username=changes["username"], exclude_pk=user.pk
        )
    deactivating = changes.get("is_active") is False and user.is_active
    before = audit_snapshot(user)
    for name, value in values.items():
        setattr(user, name, value)
    _save_unique(user)
    audit_record(action="user.update", obj=user, diff=audit_changes(before, user))
    user_event_emit(type="user.update", user=user)
    if deactivating:
        refresh_tokens_revoke(user=user, reason=RevokeReason.USER_DEACTIVATED)
    return user


@transaction.atomic
def user_update_with_password(
    *, user: User, password: str | None = None, **changes: Unpack[UserChanges]
) -> User:
    """The API's PUT/PATCH of a user: profile changes and, when sent, a new password, all or
    nothing (a password the policy refuses leaves the profile unchanged too)."""
    user = user_update(user=user, **changes)
    if password is not None:
        user = user_set_password(user=user, password=password)
    return user


@transaction.atomic
def user_set_password(*, user: User, password: str, now: datetime | None = None) -> User:
    """Set a new password (Argon2id). With the tenant's onPasswordChanged policy on, every refresh
    token of the user is revoked, so a stolen session does not survive a password reset."""
    _check_password(password, user)
    user.set_password(password)
    user.password_changed_at = now or timezone.now()
    user.save(update_fields=["password", "password_changed_at", "updated_at"])
    audit_record(action="user.password_change", obj=user)
    if user.tenant.revoke_on_password_changed:
        refresh_tokens_revoke(user=user, reason=RevokeReason.PASSWORD_CHANGED)
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Hard delete; the user's registrations and refresh tokens go with the row."""
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
