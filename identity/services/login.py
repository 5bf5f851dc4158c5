"""The Login API's rules: who may log in, how failures are counted, what a login returns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from identity.caller import Caller
from identity.exceptions import (
    LoginFailed,
    LoginPrevented,
    NotAuthenticated,
    NotFound,
    UserExpired,
    UserLocked,
    ValidationFailed,
)
from identity.models import Application, RefreshToken, Registration, Tenant, User
from identity.selectors import LOGIN_ID_TYPES, user_get_by_login_id
from identity.services.access_tokens import AccessToken, AuthenticationType, access_token_issue
from identity.services.refresh_tokens import (
    DeviceInfo,
    RevokeReason,
    refresh_token_create,
    refresh_token_find,
    refresh_tokens_revoke,
    refresh_tokens_revoke_family,
)


class LoginStatus(Enum):
    OK = 200
    NOT_REGISTERED = 202


@dataclass(frozen=True)
class LoginResult:
    status: LoginStatus
    user: User
    registrations: list[Registration]
    access_token: AccessToken | None
    refresh_token: RefreshToken | None
    refresh_token_value: str | None


def _dummy_password_work(password: str) -> None:
    """Spend what a real password check costs, so an unknown login id cannot be told apart by time."""
    User().set_password(password)


def login_target(*, caller: Caller, application_id: uuid.UUID | None) -> tuple[Tenant, Application | None]:
    """Which tenant and application a login is for, and whether the caller may ask.

    The application names its tenant; without one the tenant is the caller's (see Caller.tenant).
    An API key is required when the application (or, without one, the tenant) requires
    authentication; an application outside the caller's tenant is no application at all."""
    application: Application | None = None
    if application_id is not None:
        application = Application.objects.select_related("tenant").filter(pk=application_id).first()
        if application is None or not caller.reaches(application.tenant_id):
            raise ValidationFailed.on_field("applicationId", "invalid", "No application has this id.")
        tenant = application.tenant
    else:
        tenant = caller.tenant()
    requires_key = (
        application.require_authentication if application is not None else tenant.require_authentication
    )
    if requires_key and caller.api_key is None:
        raise NotAuthenticated()
    return tenant, application


def _record_failure(*, user: User, tenant: Tenant, now: datetime) -> None:
    """Count a failed password within the tenant's window; reaching the limit locks the account.
    One conditional UPDATE, so concurrent failures are all counted."""
    window_start = now - timedelta(seconds=tenant.failed_login_window_seconds)
    fresh_window = Q(failed_login_window_started_at__lt=window_start) | Q(
        failed_login_window_started_at__isnull=True
    )
    User.objects.filter(pk=user.pk).update(
        failed_login_count=Case(When(fresh_window, then=Value(1)), default=F("failed_login_count") + 1),
        failed_login_window_started_at=Case(
            When(fresh_window, then=Value(now)), default=F("failed_login_window_started_at")
        ),
    )
    user.refresh_from_db(fields=["failed_login_count", "failed_login_window_started_at"])
    if user.failed_login_count >= tenant.failed_login_max_attempts:
        locked_until = now + timedelta(seconds=tenant.failed_login_lockout_seconds)
        User.objects.filter(pk=user.pk).update(
            locked_until=locked_until, failed_login_count=0, failed_login_window_started_at=None
        )
        if tenant.revoke_on_login_prevented:
            refresh_tokens_revoke(user=user, reason=RevokeReason.LOGIN_PREVENTED, now=now)


def login(
    *,
    tenant: Tenant,
    application: Application | None,
    login_id: str,
    password: str,
    login_id_types: tuple[str, ...] = LOGIN_ID_TYPES,
    no_jwt: bool = False,
    device: DeviceInfo | None = None,
    now: datetime | None = None,
) -> LoginResult:
    """Check a password login and issue tokens.

    Unknown login ids and wrong passwords give the same LoginFailed after the same hashing work.
    What the account's state would reveal (lockout 409, expiry 410, deactivation 423) is said only
    to someone who knows the password; a lockout counts failures per account, never per IP, so a
    spoofed X-Forwarded-For changes nothing. A registered user of an application that generates
    refresh tokens gets one; a user not registered for the application gets a 202 and a token
    without application claims."""
    now = now or timezone.now()
    user = user_get_by_login_id(tenant=tenant, login_id=login_id, types=login_id_types)
    if user is None or not user.has_usable_password():
        _dummy_password_work(password)
        raise LoginFailed()
    if not user.check_password(password):
        if not user.is_locked(now):
            _record_failure(user=user, tenant=tenant, now=now)
        raise LoginFailed()
    if user.is_locked(now):
        raise LoginPrevented()
    if not user.is_active:
        raise UserLocked()
    if user.is_expired(now):
        raise UserExpired()
    return login_success(
        user=user,
        tenant=tenant,
        application=application,
        no_jwt=no_jwt,
        device=device,
        now=now,
        authentication_type=AuthenticationType.PASSWORD,
    )


@transaction.atomic
def login_success(
    *,
    user: User,
    tenant: Tenant,
    application: Application | None,
    no_jwt: bool,
    device: DeviceInfo | None,
    now: datetime,
    authentication_type: AuthenticationType,
) -> LoginResult:
    """Finish a login that has been authenticated (password, ping or a reconciled foreign JWT):
    record it, clear the failure counter, and issue the access token and, where the application
    generates them, a refresh token. Deactivated applications are refused here, after
    authentication, so their existence is not revealed to a caller without credentials."""
    registrations = list(Registration.objects.filter(user=user).order_by("created_at"))
    registration = next(
        (r for r in registrations if application and r.application_id == application.pk), None
    )
    status = (
        LoginStatus.NOT_REGISTERED if application is not None and registration is None else LoginStatus.OK
    )
    if application is not None and not application.active:
        raise ValidationFailed.on_field("applicationId", "inactive", "The application is not active.")
    user.last_login = now
    updates = ["last_login"]
    if user.failed_login_count or user.locked_until:
        user.failed_login_count, user.failed_login_window_started_at, user.locked_until = 0, None, None
        updates += ["failed_login_count", "failed_login_window_started_at", "locked_until"]
    user.save(update_fields=updates)
    if registration is not None:
        registration.last_login_at = now
        registration.save(update_fields=["last_login_at"])
    refresh = None
    if (
        not no_jwt
        and registration is not None
        and application is not None
        and application.generate_refresh_tokens
        and authentication_type in (AuthenticationType.PASSWORD, AuthenticationType.FEDERATED_JWT)
    ):
        refresh = refresh_token_create(user=user, application=application, device=device, now=now)
    access = None
    if not no_jwt:
        access = access_token_issue(
            user=user,
            tenant=tenant,
            application=application,
            roles=list(registration.roles) if registration is not None else None,
            authentication_type=authentication_type,
            now=now,
            session_id=refresh.token.pk if refresh else None,
        )
    return LoginResult(
        status=status,
        user=user,
        registrations=registrations,
        access_token=access,
        refresh_token=refresh.token if refresh else None,
        refresh_token_value=refresh.value if refresh else None,
    )


def login_ping(
    *, tenant: Tenant, user_id: uuid.UUID, application: Application, now: datetime | None = None
) -> LoginResult:
    """Record a login that happened elsewhere (FusionAuth's login ping): no password, no refresh
    token, an access token with authenticationType PING for an active user."""
    now = now or timezone.now()
    user = User.objects.select_related("tenant").filter(pk=user_id, tenant=tenant).first()
    if user is None or application.tenant_id != tenant.pk:
        raise NotFound()
    if not user.is_active:
        raise UserLocked()
    if user.is_expired(now):
        raise UserExpired()
    return login_success(
        user=user,
        tenant=tenant,
        application=application,
        no_jwt=False,
        device=None,
        now=now,
        authentication_type=AuthenticationType.PING,
    )


def logout(*, refresh_token_value: str | None, everywhere: bool, now: datetime | None = None) -> None:
    """Revoke the presented refresh token, or with `everywhere` every token of its user. An unknown
    or already revoked value is not an error: logging out twice is fine. The access token stays
    valid until it expires (as in FusionAuth); resource servers that must cut it at once check
    its `sid` with /api/jwt/validate's session check."""
    now = now or timezone.now()
    token = refresh_token_find(value=refresh_token_value or "")
    if token is None:
        return
    if everywhere:
        refresh_tokens_revoke(user=token.user, reason=RevokeReason.LOGOUT, now=now)
    else:
        refresh_tokens_revoke_family(family_id=token.family_id, reason=RevokeReason.LOGOUT, now=now)
