"""Domain errors, all of them, each carrying its HTTP answer (DRF's `APIException` shape).

Every class says its `status_code`, its stable `default_code` and `default_detail`, and its body
rule (`empty_body`: 401 and 404 carry nothing, so a caller cannot tell which part of its
credentials was wrong or whether a hidden object exists). `identity.exception_handler` only asks
the exception; there is no second table to keep in step.

Codes follow FusionAuth's `[errorType]field.path` convention so the official SDK and existing
client code that matches on them keep working. This module imports nothing from DRF or HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class ErrorItem:
    code: str
    message: str
    data: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data:
            out["data"] = self.data
        return out


class IdentityError(Exception):
    """Base of every error the services raise on purpose: by default a 400 with one general error."""

    status_code: ClassVar[int] = 400
    default_code: ClassVar[str] = "[invalid]"
    default_detail: ClassVar[str] = "The request is invalid."
    empty_body: ClassVar[bool] = False

    def __init__(self, detail: str | None = None) -> None:
        self.code = self.default_code
        self.message = detail or self.default_detail
        super().__init__(self.message)

    def body(self) -> dict[str, Any] | None:
        """The JSON body of the answer; None for an empty one."""
        if self.empty_body:
            return None
        return {"generalErrors": [ErrorItem(self.code, self.message).as_json()]}


class ValidationFailed(IdentityError):
    """Bad input: answered with 400 and FusionAuth's `{fieldErrors, generalErrors}` body."""

    def __init__(
        self,
        field_errors: dict[str, list[ErrorItem]] | None = None,
        general_errors: list[ErrorItem] | None = None,
    ) -> None:
        self.field_errors: dict[str, list[ErrorItem]] = field_errors or {}
        self.general_errors: list[ErrorItem] = general_errors or []
        super().__init__(self.summary())

    @classmethod
    def on_field(cls, path: str, error_type: str, message: str) -> ValidationFailed:
        return cls(field_errors={path: [ErrorItem(f"[{error_type}]{path}", message)]})

    @classmethod
    def general(cls, code: str, message: str) -> ValidationFailed:
        return cls(general_errors=[ErrorItem(code, message)])

    def add(self, path: str, error_type: str, message: str) -> None:
        self.field_errors.setdefault(path, []).append(ErrorItem(f"[{error_type}]{path}", message))
        self.message = self.summary()
        self.args = (self.message,)

    def __bool__(self) -> bool:
        return bool(self.field_errors or self.general_errors)

    def keyed(self, paths: Mapping[str, str]) -> ValidationFailed:
        """The same errors with the field keys in `paths` renamed (model field → API path), codes
        included (`[blank]email` → `[blank]user.email`); other keys stay."""
        field_errors = {
            paths.get(key, key): [
                ErrorItem(item.code.removesuffix(key) + paths.get(key, key), item.message, item.data)
                for item in items
            ]
            for key, items in self.field_errors.items()
        }
        return ValidationFailed(field_errors, list(self.general_errors))

    def summary(self) -> str:
        parts = [f"{p}: {e.message}" for p, errs in self.field_errors.items() for e in errs]
        parts += [e.message for e in self.general_errors]
        return "; ".join(parts) or "Invalid request."

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.field_errors:
            body["fieldErrors"] = {p: [e.as_json() for e in errs] for p, errs in self.field_errors.items()}
        if self.general_errors:
            body["generalErrors"] = [e.as_json() for e in self.general_errors]
        return body

    def body(self) -> dict[str, Any]:
        # Always a JSON object, even an empty one: the official SDK raises on an empty 400.
        return self.as_json()


@contextmanager
def errors_keyed(paths: Mapping[str, str]) -> Iterator[None]:
    """Re-key a ValidationFailed raised inside with `paths` (see `ValidationFailed.keyed`)."""
    try:
        yield
    except ValidationFailed as exc:
        raise exc.keyed(paths) from exc


class TenantIdRequired(ValidationFailed):
    """More than one tenant exists and nothing in the request says which one is meant."""

    def __init__(self) -> None:
        super().__init__(
            general_errors=[
                ErrorItem(
                    "[TenantIdRequired]",
                    "A Tenant Id is required to complete this request. "
                    "Send the X-FusionAuth-TenantId header or use a tenant-locked API key.",
                )
            ]
        )


class RefreshTokenUnusable(ValidationFailed):
    """One answer for every reason a refresh token cannot be used (unknown, expired, revoked,
    reused, refresh not allowed, lifetime too long), so a caller learns nothing from the difference."""

    def __init__(self) -> None:
        super().__init__()
        self.add("refreshToken", "invalid", "The refresh token is invalid, expired or revoked.")


class NotAuthenticated(IdentityError):
    """Missing, wrong, expired or unpermitted credentials: 401 with an empty body."""

    status_code = 401
    default_code = "[NotAuthenticated]"
    default_detail = "Authentication failed."
    empty_body = True


class TokenInvalid(IdentityError):
    """The token is malformed, forged, expired, of the wrong kind, or signed by an untrusted key:
    401 with an empty body, like any credential that does not authenticate."""

    status_code = 401
    default_code = "[InvalidToken]"
    default_detail = "The token is invalid."
    empty_body = True


class TokenExpired(TokenInvalid):
    """A token whose signature, issuer and audience were good but whose `exp` has passed. Answered
    exactly like TokenInvalid; only a caller that may say "expired" (the path-protection middleware's
    error message) tells them apart."""


class FastAPIUsersError(IdentityError):
    """The fastapi-users error shape, `{"detail": "<CODE>"}`, for the `/auth/<name>/` routes, so
    clients written against fastapi-users (and Swagger's password flow) read our answers."""

    def body(self) -> dict[str, Any]:
        return {"detail": self.code}


class LoginBadCredentials(FastAPIUsersError):
    """Unknown user, wrong password, locked out or not registered for the backend's application:
    one answer, so a caller learns nothing from the difference."""

    default_code = "LOGIN_BAD_CREDENTIALS"
    default_detail = "Bad credentials."


class LoginUserNotVerified(FastAPIUsersError):
    """The password was right but the account may not log in (deactivated or expired)."""

    default_code = "LOGIN_USER_NOT_VERIFIED"
    default_detail = "The user may not log in."


class NotFound(IdentityError):
    """The object does not exist or is not visible to the caller: 404 with an empty body."""

    status_code = 404
    default_code = "[NotFound]"
    default_detail = "Not found."
    empty_body = True


class LoginFailed(IdentityError):
    """Unknown login id or wrong password: one answer (404, empty body) for both."""

    status_code = 404
    default_code = "[LoginFailed]"
    default_detail = "Invalid login credentials."
    empty_body = True


class Conflict(IdentityError):
    """The request conflicts with the current state, e.g. deleting the default tenant."""

    status_code = 409
    default_code = "[Conflict]"
    default_detail = "The request conflicts with the current state."


class LoginPrevented(IdentityError):
    """The account is locked out after too many failures (FusionAuth answers 409)."""

    status_code = 409
    default_code = "[LoginPreventedException]"
    default_detail = "Login is prevented for this user."


class UserExpired(IdentityError):
    status_code = 410
    default_code = "[UserExpiredException]"
    default_detail = "The user has expired."


class UserLocked(IdentityError):
    """The account is deactivated (FusionAuth answers 423 for a locked account)."""

    status_code = 423
    default_code = "[UserLockedException]"
    default_detail = "The user is locked."


class SigningKeyMissing(IdentityError):
    """The tenant (or application) has no usable signing key configured: a server-side fault."""

    status_code = 500
    default_code = "[MissingSigningKey]"
    default_detail = "No usable signing key."


class OAuthError(IdentityError):
    """An error of the OAuth2 endpoints (`/oauth2/*`, `/connect/*`), answered in RFC 6749 §5.2 shape
    `{"error", "error_description"}` with `Cache-Control: no-store`. `headers` adds to the answer
    (`WWW-Authenticate` for a client that tried HTTP Basic, `Retry-After` when throttled)."""

    status_code = 400
    default_code = "invalid_request"
    default_detail = "The request is missing a parameter, repeats one, or is otherwise malformed."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.message}


class OAuthInvalidRequest(OAuthError):
    pass


class OAuthInvalidClient(OAuthError):
    """Client authentication failed (unknown client, wrong secret, bad assertion, no method it may
    use). 401; with `WWW-Authenticate: Basic` when the client tried the Authorization header."""

    status_code = 401
    default_code = "invalid_client"
    default_detail = "Client authentication failed."
    REALM = 'Basic realm="identity", charset="UTF-8"'

    @classmethod
    def over_basic(cls, detail: str | None = None) -> OAuthInvalidClient:
        return cls(detail, headers={"WWW-Authenticate": cls.REALM})


class OAuthInvalidGrant(OAuthError):
    default_code = "invalid_grant"
    default_detail = "The grant is invalid, expired, revoked or was issued to another client."


class OAuthUnauthorizedClient(OAuthError):
    default_code = "unauthorized_client"
    default_detail = "The client may not use this grant type."


class OAuthUnsupportedGrantType(OAuthError):
    default_code = "unsupported_grant_type"
    default_detail = "The grant type is not supported."


class OAuthInvalidScope(OAuthError):
    default_code = "invalid_scope"
    default_detail = "The requested scope is invalid or exceeds what the client may request."


class OAuthInvalidTarget(OAuthError):
    """RFC 8693 §2.2.2: the requested resource or audience is not served."""

    default_code = "invalid_target"
    default_detail = "No token can be issued for the requested resource or audience."


class OAuthUnsupportedTokenType(OAuthError):
    default_code = "unsupported_token_type"
    default_detail = "This token type cannot be revoked."


class OAuthTooManyRequests(OAuthError):
    """The client's token-request limit is spent: 429 with `Retry-After` (seconds)."""

    status_code = 429
    default_code = "slow_down"
    default_detail = "Too many token requests for this client; retry later."

    @classmethod
    def after(cls, seconds: int) -> OAuthTooManyRequests:
        return cls(headers={"Retry-After": str(max(1, seconds))})
