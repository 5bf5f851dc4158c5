"""fastapi-users style login backends (issue 13 part 1): `POST /auth/<name>/login` with the OAuth2
password form, answered with an ordinary access token of the backend's application, in the body
(bearer) or in a cookie; `POST /auth/<name>/logout`.

The password check is /api/login's own (identity.services.login.login: same hashing, lockout
and equal cost for unknown users), called from one place (`_password_login`). Its answers are
mapped to fastapi-users' codes: every failure before the password is proven right is
LOGIN_BAD_CREDENTIALS; a right password on a deactivated or expired account is
LOGIN_USER_NOT_VERIFIED. A user not registered for the application gets no token."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

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
from identity.models import Application, CookieSameSite, LoginBackend, LoginTransport
from identity.services.access_tokens import (
    AccessToken,
    AuthenticationType,
    access_token_issue,
    access_token_verify,
)
from identity.services.audit import audit_record
from identity.services.login import LoginResult, password_login

NAME_MAX = 64
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_LIFETIME_SECONDS = 366 * 24 * 3600


@dataclass(frozen=True)
class BackendLogin:
    backend: LoginBackend
    access_token: AccessToken
    max_age_seconds: int


def _backend(name: str) -> LoginBackend:
    """The backend of that name whose application is active; NotFound (404) for anything else."""
    if not NAME_PATTERN.fullmatch(name):
        raise NotFound()  # and never reaches the database (a NUL byte there is a 500)
    backend = (
        LoginBackend.objects.select_related("application__tenant")
        .filter(name=name, application__active=True)
        .first()
    )
    if backend is None:
        raise NotFound()
    return backend


def _validate(backend: LoginBackend) -> None:
    errors = ValidationFailed()
    if (
        not backend.name
        or len(backend.name) > NAME_MAX
        or not backend.name.replace("-", "").replace("_", "").isalnum()
    ):
        errors.add("loginBackend.name", "invalid", "A name of letters, digits, '-' and '_' (at most 64).")
    elif LoginBackend.objects.filter(name=backend.name).exclude(pk=backend.pk).exists():
        errors.add("loginBackend.name", "duplicate", "Another login backend has this name.")
    if backend.transport not in LoginTransport.values:
        errors.add("loginBackend.transport", "invalid", "bearer or cookie.")
    if not 1 <= backend.lifetime_seconds <= MAX_LIFETIME_SECONDS:
        errors.add("loginBackend.lifetimeSeconds", "invalid", "Between 1 second and 366 days.")
    if backend.cookie_samesite not in CookieSameSite.values:
        errors.add("loginBackend.cookieSameSite", "invalid", "lax, strict or none.")
    elif backend.cookie_samesite == CookieSameSite.NONE and not backend.cookie_secure:
        errors.add("loginBackend.cookieSameSite", "invalid", "SameSite=None needs a Secure cookie.")
    if not backend.cookie_name or any(c in backend.cookie_name for c in ' ;,="\\\t\r\n'):
        errors.add("loginBackend.cookieName", "invalid", "A cookie name without spaces or separators.")
    if not backend.cookie_path.startswith("/") or any(c in backend.cookie_path for c in " ;\t\r\n"):
        errors.add("loginBackend.cookiePath", "invalid", "A path starting with '/'.")
    if any(c in backend.cookie_domain for c in " ;/\t\r\n"):
        errors.add("loginBackend.cookieDomain", "invalid", "A host name.")
    if errors:
        raise errors


@transaction.atomic
def login_backend_create(
    *,
    application: Application,
    name: str = "jwt",
    transport: str = LoginTransport.BEARER,
    lifetime_seconds: int = 3600,
    cookie_name: str = "fastapiusersauth",
    cookie_domain: str = "",
    cookie_path: str = "/",
    cookie_secure: bool = True,
    cookie_samesite: str = CookieSameSite.LAX,
) -> LoginBackend:
    backend = LoginBackend(
        application=application,
        name=name,
        transport=transport,
        lifetime_seconds=lifetime_seconds,
        cookie_name=cookie_name,
        cookie_domain=cookie_domain,
        cookie_path=cookie_path,
        cookie_secure=cookie_secure,
        cookie_samesite=cookie_samesite,
    )
    _validate(backend)
    backend.save()
    audit_record(action="login_backend.create", obj=backend)
    return backend


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
