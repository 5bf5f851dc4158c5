"""The Login API's rules: who may log in, how failures are counted, what a login returns."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from identity.caller import Caller
from identity.exceptions import (
    IdentityError,
    LoginFailed,
    LoginPrevented,
    NotAuthenticated,
    NotFound,
    UserExpired,
    UserLocked,
    ValidationFailed,
)
from identity.models import Application, RefreshToken, Registration, Tenant, User
from identity.selectors import LOGIN_ID_TYPES, application_get, user_get_by_login_id
from identity.selectors.rows import column, db_param, prepared_fetchone
from identity.services.access_tokens import AccessToken, AuthenticationType, access_token_issue
from identity.services.login_sql import login_record
from identity.services.refresh_tokens import (
    DeviceInfo,
    IssuedRefreshToken,
    RevokeReason,
    refresh_token_build,
    refresh_token_create,
    refresh_token_find,
    refresh_tokens_revoke,
    refresh_tokens_revoke_family,
    session_limit_audit_entry,
)
from identity.services.webhooks import event_wanted, user_event_emit

logger = logging.getLogger(__name__)


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
    """Which tenant and application a login (or a password check such as change-password) is for,
    and whether the caller may ask.

    The application names its tenant; without one the tenant is the caller's (see Caller.tenant).
    An API key is required when the application (or, without one, the tenant) requires
    authentication; an application outside the caller's tenant is no application at all."""
    application: Application | None = None
    if application_id is not None:
        application = application_get(application_id=application_id, remembered=True)
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


def user_login_check(*, user: User, now: datetime) -> None:
    """The one rule on an account's state that every path ending in a login (password login,
    change-password, login ping, reconcile) or extending one (issue) applies, in this order: locked
    out 409, deactivated 423, expired 410."""
    if user.is_locked(now):
        raise LoginPrevented()
    if not user.is_active:
        raise UserLocked()
    if user.is_expired(now):
        raise UserExpired()


def _may_log_in(now: datetime) -> Q:
    """user_login_check as a filter, for the conditional UPDATE that records a login."""
    return (
        Q(is_active=True)
        & (Q(locked_until__isnull=True) | Q(locked_until__lte=now))
        & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    )


@cache
def _attempt_sql(alias: str) -> str:
    """The attempt counter's UPDATE, built once per database alias from the model's columns."""
    quote = connections[alias].ops.quote_name
    table = quote(User._meta.db_table)
    pk, count, started, locked = (
        quote(column(User._meta.get_field(name)))
        for name in ("id", "failed_login_count", "failed_login_window_started_at", "locked_until")
    )
    fresh = f"({started} IS NULL OR {started} < %s)"
    return (
        f"UPDATE {table} SET {count} = CASE WHEN {fresh} THEN 1 ELSE {count} + 1 END, "  # noqa: S608
        f"{started} = CASE WHEN {fresh} THEN %s ELSE {started} END "
        f"WHERE {pk} = %s AND ({locked} IS NULL OR {locked} <= %s) RETURNING {count}"
    )  # only quoted names of our own model's columns are interpolated


def _attempt_reserve(*, user_id: uuid.UUID, tenant: Tenant, now: datetime) -> int | None:
    """Count a password attempt before any hashing and return its number in the tenant's window,
    or None while the account is locked. One UPDATE … RETURNING: the increment and the read happen
    under the row's lock, so parallel attempts each get their own number and none is lost (and a
    login pays one round trip for it; PostgreSQL and SQLite ≥ 3.35 both speak RETURNING)."""
    # The connection itself, not django.db.connection: through that proxy each attribute read is a
    # lookup in asgiref's Local behind two caught exceptions, and a statement reads about fifteen.
    connection = connections[DEFAULT_DB_ALIAS]
    stamp_field, pk_field = User._meta.get_field("locked_until"), User._meta.get_field("id")
    stamp = db_param(stamp_field, now, connection)
    window = timedelta(seconds=tenant.failed_login_window_seconds)
    window_start = db_param(stamp_field, now - window, connection)
    user_pk = db_param(pk_field, user_id, connection)
    sql = _attempt_sql(DEFAULT_DB_ALIAS)
    row = prepared_fetchone(connection, sql, [window_start, window_start, stamp, user_pk, stamp])
    return None if row is None else int(row[0])


def _attempt_failed(*, user: User, tenant: Tenant, attempt: int, now: datetime) -> None:
    """A counted attempt had the wrong password: the one that reaches the limit locks the account
    (and, by the tenant's policy, ends its sessions). Earlier ones stay counted as they are."""
    if attempt < tenant.failed_login_max_attempts:
        return
    locked_until = now + timedelta(seconds=tenant.failed_login_lockout_seconds)
    User.objects.filter(pk=user.pk).update(
        locked_until=locked_until, failed_login_count=0, failed_login_window_started_at=None
    )
    if tenant.revoke_on_login_prevented:
        refresh_tokens_revoke(user=user, reason=RevokeReason.LOGIN_PREVENTED, now=now)


def failed_logins_clear(*, user: User) -> None:
    """The password was right: earlier failures (and this attempt's count) no longer add up."""
    User.objects.filter(pk=user.pk).update(failed_login_count=0, failed_login_window_started_at=None)


def _password_matches(user: User, password: str) -> bool:
    """Django's check (which re-hashes a legacy hash after a right password), where a stored hash
    that does not parse (one imported before the import checked them) is a wrong password at the
    same cost, and a line in the log, never a 500."""
    try:
        return user.check_password(password)
    except (ValueError, TypeError, OverflowError) as exc:  # argon2's and binascii's errors are ValueErrors
        logger.error("user %s has an unusable stored password hash (%s)", user.pk, type(exc).__name__)
        _dummy_password_work(password)
        return False


def password_verify(
    *,
    tenant: Tenant,
    login_id: str,
    password: str,
    login_id_types: tuple[str, ...] = LOGIN_ID_TYPES,
    now: datetime,
) -> User:
    """The one door for checking a user's password (login, change-password, the admin console).

    - Unknown login ids and wrong passwords are the same LoginFailed after the same work: the
      counting UPDATE (matching no row for an unknown id) and a hash.
    - Every attempt is counted before hashing, atomically, within the tenant's window; an attempt
      beyond `failed_login_max_attempts` is refused like a locked account without hashing, so
      parallel guesses cannot overshoot the limit, and the failure that reaches it locks.
    - While locked the password is not checked at all: right and wrong get the same 409 at the
      same (small) cost, so guessing gains nothing and costs the server nothing.
    - What the other states would reveal (deactivated 423, expired 410) is said only to someone
      who knows the password. Failures count per account, never per IP.

    A right password returns the user with this attempt still counted (`failed_login_count` > 0):
    the caller clears it with failed_logins_clear once its action is done (login_success does it
    in the UPDATE that records the login, saving a round trip on the hot path)."""
    user = user_get_by_login_id(tenant=tenant, login_id=login_id, types=login_id_types)
    if user is None or user.is_bot or not user.has_usable_password():  # bots log in with PATs only
        _attempt_reserve(user_id=uuid.uuid4(), tenant=tenant, now=now)  # the same round trip, no row
        _dummy_password_work(password)
        raise LoginFailed()
    attempt = _attempt_reserve(user_id=user.pk, tenant=tenant, now=now)
    if attempt is None or attempt > tenant.failed_login_max_attempts:
        raise LoginPrevented()
    if not _password_matches(user, password):
        _attempt_failed(user=user, tenant=tenant, attempt=attempt, now=now)
        user_event_emit(type="user.login.failed", user=user)
        raise LoginFailed()
    user.failed_login_count = attempt
    try:
        user_login_check(user=user, now=now)
    except IdentityError:
        failed_logins_clear(user=user)
        raise
    return user


def login(
    *,
    caller: Caller,
    application_id: uuid.UUID | None,
    login_id: str,
    password: str,
    login_id_types: tuple[str, ...] = LOGIN_ID_TYPES,
    no_jwt: bool = False,
    device: DeviceInfo | None = None,
    now: datetime | None = None,
) -> LoginResult:
    """`POST /api/login`: decide the tenant and application the caller may log in to
    (login_target), check the password (password_verify) and issue tokens (login_success). A
    registered user of an application that generates refresh tokens gets one; a user not
    registered for the application gets a 202 and a token without application claims.

    Not one transaction on purpose: a counted attempt and a lock must stand although the login
    then fails; login_success, which records the login and issues the tokens, is atomic."""
    tenant, application = login_target(caller=caller, application_id=application_id)
    return password_login(
        tenant=tenant,
        application=application,
        login_id=login_id,
        password=password,
        login_id_types=login_id_types,
        no_jwt=no_jwt,
        device=device,
        now=now,
    )


def password_login(
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
    """A password login to a tenant and application already decided (by login_target for the
    Login API, by the backend's name for `/auth/<name>/login`): the same hashing, lockout and
    equal-cost rules for every door."""
    now = now or timezone.now()
    user = password_verify(
        tenant=tenant, login_id=login_id, password=password, login_id_types=login_id_types, now=now
    )
    try:
        return login_success(
            user=user,
            tenant=tenant,
            application=application,
            no_jwt=no_jwt,
            device=device,
            now=now,
            authentication_type=AuthenticationType.PASSWORD,
        )
    except IdentityError:
        failed_logins_clear(user=user)  # the password was right, whatever else refused the login
        raise


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
    apply the account-state rule (user_login_check), record it, and issue the access token and,
    where the application generates them, a refresh token.

    The login is recorded by one UPDATE conditional on that same rule, so a lock or deactivation
    that lands while the request runs still refuses it. Only a password login clears the failure
    counter (and the stamp of a lock that has run out); no path clears a live lock: it ends by
    time, or by an administrator. Deactivated applications are refused here, after
    authentication, so their existence is not revealed to a caller without credentials.

    On PostgreSQL, when no webhook listens for what the login would emit, every write is one
    statement (identity.services.login_sql, issue 16's budget); whenever that statement does not
    apply (a concurrent change of the user, a refused account state, SQLite, a listening webhook
    whose outbox row must share the transaction) the transaction below does it all."""
    user_login_check(user=user, now=now)
    if application is not None and not application.active:
        raise ValidationFailed.on_field("applicationId", "inactive", "The application is not active.")
    changes = _login_changes(user=user, now=now, authentication_type=authentication_type)
    if connection.vendor == "postgresql" and not any(
        event_wanted(type=kind, tenant=user.tenant_id) for kind in _LOGIN_EVENTS
    ):
        wants_token = (
            not no_jwt
            and application is not None
            and application.generate_refresh_tokens
            and authentication_type in (AuthenticationType.PASSWORD, AuthenticationType.FEDERATED_JWT)
        )
        issued = (
            refresh_token_build(user=user, application=application, device=device, now=now)
            if wants_token and application is not None
            else None
        )
        recorded = login_record(
            user_id=user.pk,
            changes=changes,
            application_id=application.pk if application is not None else None,
            token=issued.token if issued is not None else None,
            keep=tenant.refresh_token_limit_per_user - 1,
            eviction=session_limit_audit_entry(user=user, tenant_id=tenant.pk) if issued else None,
            revoke_reason=RevokeReason.SESSION_LIMIT.value,
            now=now,
        )
        if recorded is not None:
            for name, value in changes.items():
                setattr(user, name, value)
            registration = next(
                (r for r in recorded.registrations if application and r.application_id == application.pk),
                None,
            )
            return _login_result(
                user=user,
                tenant=tenant,
                application=application,
                registrations=recorded.registrations,
                registration=registration,
                refresh=issued if recorded.token_inserted else None,
                no_jwt=no_jwt,
                now=now,
                authentication_type=authentication_type,
            )
    return _login_success_atomic(
        user=user,
        tenant=tenant,
        application=application,
        no_jwt=no_jwt,
        device=device,
        now=now,
        authentication_type=authentication_type,
        changes=changes,
    )


_LOGIN_EVENTS = ("user.login.success", "jwt.refresh-token.revoke")
"""What a login may emit (the second when it evicts a session beyond the per-user limit)."""


def _login_changes(*, user: User, now: datetime, authentication_type: AuthenticationType) -> dict[str, Any]:
    changes: dict[str, Any] = {"last_login": now}
    if authentication_type == AuthenticationType.PASSWORD and (user.failed_login_count or user.locked_until):
        # The UPDATE's condition guarantees any lock left here has already run out.
        changes.update(failed_login_count=0, failed_login_window_started_at=None, locked_until=None)
    return changes


@transaction.atomic
def _login_success_atomic(
    *,
    user: User,
    tenant: Tenant,
    application: Application | None,
    no_jwt: bool,
    device: DeviceInfo | None,
    now: datetime,
    authentication_type: AuthenticationType,
    changes: dict[str, Any],
) -> LoginResult:
    registrations = list(Registration.objects.filter(user=user).order_by("created_at"))
    registration = next(
        (r for r in registrations if application and r.application_id == application.pk), None
    )
    if not User.objects.filter(_may_log_in(now), pk=user.pk).update(**changes):
        user.refresh_from_db(fields=["is_active", "locked_until", "expires_at"])
        user_login_check(user=user, now=now)
        raise LoginPrevented()  # the row changed in a way the check cannot name (e.g. deleted)
    for name, value in changes.items():
        setattr(user, name, value)
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
    result = _login_result(
        user=user,
        tenant=tenant,
        application=application,
        registrations=registrations,
        registration=registration,
        refresh=refresh,
        no_jwt=no_jwt,
        now=now,
        authentication_type=authentication_type,
    )
    user_event_emit(
        type="user.login.success",
        user=user,
        applicationId=str(application.pk) if application is not None else None,
        authenticationType=str(authentication_type.value),
        ipAddress=device.address if device is not None else "",
    )
    return result


def _login_result(
    *,
    user: User,
    tenant: Tenant,
    application: Application | None,
    registrations: list[Registration],
    registration: Registration | None,
    refresh: IssuedRefreshToken | None,
    no_jwt: bool,
    now: datetime,
    authentication_type: AuthenticationType,
) -> LoginResult:
    status = (
        LoginStatus.NOT_REGISTERED if application is not None and registration is None else LoginStatus.OK
    )
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
    *, caller: Caller, user_id: uuid.UUID, application_id: uuid.UUID, now: datetime | None = None
) -> LoginResult:
    """Record a login that happened elsewhere (FusionAuth's login ping, API key only): no
    password, no refresh token, an access token with authenticationType PING, for a user of the
    application's tenant that login_success's state rule lets in (a locked, deactivated or expired
    user is refused as /api/login refuses them). An application or user out of the caller's reach
    is not found."""
    caller.key()
    application = caller.visible(
        Application.objects.select_related("tenant").filter(pk=application_id).first()
    )
    user = User.objects.select_related("tenant").filter(pk=user_id, tenant_id=application.tenant_id).first()
    if user is None:
        raise NotFound()
    return login_success(
        user=user,
        tenant=application.tenant,
        application=application,
        no_jwt=False,
        device=None,
        now=now or timezone.now(),
        authentication_type=AuthenticationType.PING,
    )


@transaction.atomic
def logout(*, refresh_token_value: str | None, everywhere: bool, now: datetime | None = None) -> None:
    """`POST /api/logout`: revoke the presented refresh token, or with `everywhere` every token of
    its user. An unknown, revoked or expired value does nothing and is not an error: logging out
    twice is fine, and a dead token authorises nothing. The access token stays valid until it expires (as in
    FusionAuth); resource servers that must cut it at once check its `sid` with
    /api/jwt/validate's session check."""
    now = now or timezone.now()
    token = refresh_token_find(value=refresh_token_value or "")
    if token is None or not token.is_usable(now):
        return  # a dead token authorises nothing, least of all ending the user's live sessions
    if everywhere:
        refresh_tokens_revoke(user=token.user, reason=RevokeReason.LOGOUT, now=now)
    else:
        refresh_tokens_revoke_family(family_id=token.family_id, reason=RevokeReason.LOGOUT, now=now)
