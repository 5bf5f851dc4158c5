"""fastapi-users style login backends (issue 13 part 1): `POST /auth/<name>/login` with the OAuth2
password form, answered with an ordinary access token of the backend's application, in the body
(bearer) or in a cookie; `POST /auth/<name>/logout`.

The password check is /api/login's own (identity.services.login.login: same hashing, lockout
and equal cost for unknown users), called from one place (`_password_login`). Its answers are
mapped to fastapi-users' codes: every failure before the password is proven right is
LOGIN_BAD_CREDENTIALS; a right password on a deactivated or expired account is
LOGIN_USER_NOT_VERIFIED. A user not registered for the application gets no token."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from identity.exceptions import (
    LoginBadCredentials,
    LoginFailed,
    LoginPrevented,
    LoginUserNotVerified,
    NotAuthenticated,
    NotFound,
    TokenInvalid,
    UserExpired,
    UserLocked,
    ValidationFailed,
)
from identity.models import Application, LoginBackend, LoginTransport
from identity.services.access_tokens import (
    AccessToken,
    AuthenticationType,
    access_token_issue,
    access_token_verify,
)
from identity.services.audit import audit_changes, audit_record, audit_snapshot
from identity.services.login import LoginResult, password_login
from identity.validators import LOGIN_BACKEND_FIELDS, LOGIN_BACKEND_NAME, login_backend_validate


@dataclass(frozen=True)
class BackendLogin:
    backend: LoginBackend
    access_token: AccessToken
    max_age_seconds: int


def _backend(name: str) -> LoginBackend:
    """The backend of that name whose application is active; NotFound (404) for anything else."""
    if not LOGIN_BACKEND_NAME.fullmatch(name):
        raise NotFound()  # and never reaches the database (a NUL byte there is a 500)
    backend = (
        LoginBackend.objects.select_related("application__tenant")
        .filter(name=name, application__active=True)
        .first()
    )
    if backend is None:
        raise NotFound()
    return backend


def _check_fields(values: Mapping[str, Any]) -> None:
    unknown = set(values) - LOGIN_BACKEND_FIELDS
    if unknown:
        raise TypeError(f"Unknown login backend fields: {', '.join(sorted(unknown))}")


@transaction.atomic
def login_backend_create(
    *,
    application: Application,
    backend_id: uuid.UUID | None = None,
    **values: Any,
) -> LoginBackend:
    """Add a login backend to an application. The API, the admin inline and `create_login_backend`
    all come here; absent values take the model's defaults (bearer `jwt`, one hour, Lax cookie)."""
    _check_fields(values)
    defaults = {
        f.name: f.get_default() for f in LoginBackend._meta.concrete_fields if f.name in LOGIN_BACKEND_FIELDS
    }
    values = {**defaults, **values}
    login_backend_validate(values=values, backend=None)
    if backend_id is not None and LoginBackend.objects.filter(pk=backend_id).exists():
        raise ValidationFailed.on_field("loginBackendId", "duplicate", "A login backend with this id exists.")
    backend = LoginBackend(id=backend_id or uuid.uuid4(), application=application, **values)
    backend.save(force_insert=True)
    audit_record(action="login_backend.create", obj=backend)
    return backend


@transaction.atomic
def login_backend_update(*, backend: LoginBackend, **changes: Any) -> LoginBackend:
    """Change what is given; the resulting backend is validated as a whole (a cookie made
    SameSite=None must also be Secure). A rename moves the login path at once."""
    _check_fields(changes)
    before = audit_snapshot(backend)
    current = {name: getattr(backend, name) for name in LOGIN_BACKEND_FIELDS}
    login_backend_validate(values={**current, **changes}, backend=backend)
    for name, value in changes.items():
        setattr(backend, name, value)
    backend.save()
    audit_record(action="login_backend.update", obj=backend, diff=audit_changes(before, backend))
    return backend


@transaction.atomic
def login_backend_delete(*, backend: LoginBackend) -> None:
    """Remove a backend: its path answers 404 from now on. Tokens it issued are ordinary access
    tokens of the application and stay valid until they expire."""
    audit_record(action="login_backend.delete", obj=backend, diff=audit_snapshot(backend))
    backend.delete()


def _password_login(*, backend: LoginBackend, username: str, password: str, now: datetime) -> LoginResult:
    """The one call into the Login API's password login. `no_jwt`: this backend issues its own
    token (its lifetime) and opens no refresh-token session nobody would ever use."""
    application = backend.application
    try:
        return password_login(
            tenant=application.tenant,
            application=application,
            login_id=username,
            password=password,
            no_jwt=True,
            now=now,
        )
    except (LoginFailed, LoginPrevented) as exc:
        raise LoginBadCredentials() from exc
    except (UserLocked, UserExpired) as exc:
        raise LoginUserNotVerified() from exc


def login_backend_login(
    *, name: str, username: str, password: str, cross_site: bool = False, now: datetime | None = None
) -> BackendLogin:
    """Check the password and issue the backend's token. `cross_site`: the request came from
    another site's page (a cookie backend then refuses: no login CSRF)."""
    now = now or timezone.now()
    backend = _backend(name)
    if cross_site and backend.transport == LoginTransport.COOKIE:
        raise NotAuthenticated()
    result = _password_login(backend=backend, username=username, password=password, now=now)
    application = backend.application
    registration = next((r for r in result.registrations if r.application_id == application.pk), None)
    if registration is None:
        raise LoginBadCredentials()
    token = access_token_issue(
        user=result.user,
        tenant=application.tenant,
        application=application,
        roles=list(registration.roles),
        authentication_type=AuthenticationType.PASSWORD,
        now=now,
        ttl_seconds=backend.lifetime_seconds,
    )
    max_age = max(0, int((token.expires_at - now).total_seconds()))
    return BackendLogin(backend=backend, access_token=token, max_age_seconds=max_age)


def login_backend_logout(
    *,
    name: str,
    bearer: str | None,
    cookies: Mapping[str, str],
    forgeable: bool,
    now: datetime | None = None,
) -> LoginBackend:
    """fastapi-users' logout: only for the holder of a valid token of the backend's application
    (401 otherwise), from the Authorization header or, for a cookie backend, its cookie (refused
    when another site could have forged the request, as identity.cookies.token_cookie does).
    Nothing is revoked: a JWT stays valid until it expires; the cookie transport's answer clears
    the cookie."""
    now = now or timezone.now()
    backend = _backend(name)
    token = bearer
    if not token and backend.transport == LoginTransport.COOKIE:
        token = cookies.get(backend.cookie_name)
        if token and forgeable:
            raise NotAuthenticated()
    if not token:
        raise NotAuthenticated()
    try:
        claims = access_token_verify(token=token, now=now).claims
    except TokenInvalid as exc:
        raise NotAuthenticated() from exc
    if claims.get("aud") != str(backend.application_id):
        raise NotAuthenticated()
    return backend
