"""The one place where errors become HTTP responses, in FusionAuth's shapes.

Domain errors answer with the status and body their class declares (identity/exceptions.py).
DRF's and Django's own exceptions are mapped here to the same shapes: 400 always carries an Errors
JSON body (the official SDK raises on an empty or non-JSON 400); 401 and 404 carry nothing. Every
server-side error (a domain error of status 5xx, or any exception nobody expected) answers one
generic body; what went wrong goes to the log only, so a response never carries an operator hint,
a setting name or a stack trace.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from identity.exceptions import (
    ErrorItem,
    IdentityError,
    NotAuthenticated,
    OAuthError,
    OAuthInvalidClient,
    OAuthInvalidRequest,
    OAuthTooManyRequests,
    TokenInvalid,
    ValidationFailed,
)

logger = logging.getLogger("identity.errors")

SERVER_ERROR_BODY = {
    "generalErrors": [{"code": "[InternalError]", "message": "The request could not be completed."}]
}

# DRF's validation codes → FusionAuth's error types.
_DRF_CODE_TO_TYPE = {
    "required": "blank",
    "blank": "blank",
    "null": "blank",
    "max_length": "tooLong",
    "min_length": "tooShort",
    "max_value": "tooLarge",
    "min_value": "tooSmall",
    # FusionAuth's own types, raised as such by identity.serializers: a value that does not parse
    # (a UUID), a request without the member it needs.
    "couldNotConvert": "couldNotConvert",
    "missing": "missing",
}


def _empty(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, headers=headers)


def _flatten(detail: Any, path: str, out: dict[str, list[ErrorItem]]) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            # DRF reports errors of a whole (nested) object under "non_field_errors": they belong to
            # the object's own path.
            # Positions inside a list report on the list itself (`loginIdTypes`, not `loginIdTypes.0`).
            nested = key == "non_field_errors" or isinstance(key, int) or str(key).isdigit()
            child = path if nested else (f"{path}.{key}" if path else str(key))
            _flatten(value, child, out)
    elif isinstance(detail, list):
        for value in detail:
            _flatten(value, path, out)
    else:
        code = getattr(detail, "code", "invalid") or "invalid"
        error_type = _DRF_CODE_TO_TYPE.get(code, "invalid")
        out.setdefault(path, []).append(ErrorItem(f"[{error_type}]{path}", str(detail)))


def validation_error_body(detail: Any) -> dict[str, Any]:
    fields: dict[str, list[ErrorItem]] = {}
    _flatten(detail, "", fields)
    general = fields.pop("", [])
    return ValidationFailed(field_errors=fields, general_errors=general).as_json()


def _server_error(exc: Exception, context: dict[str, Any], status: int = 500) -> Response:
    """The generic answer to a server-side error; the detail is logged, never sent."""
    request = context.get("request")
    logger.error(
        "Server error %s on %s %s: %s",
        status,
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        exc,
        exc_info=exc,
    )
    set_rollback()
    return Response(SERVER_ERROR_BODY, status=status)


def _identity_response(exc: IdentityError, context: dict[str, Any]) -> Response:
    """Each domain error carries its own status and body rule (identity/exceptions.py)."""
    if exc.status_code >= 500:
        return _server_error(exc, context, exc.status_code)
    return Response(exc.body(), status=exc.status_code)


# Paths answered in OAuth2's shapes (RFC 6749 §5.2, RFC 7009, RFC 7662) rather than FusionAuth's.
OAUTH_PATH_PREFIXES = ("/oauth2/", "/connect/")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _retry_after(exc: drf.Throttled) -> int:
    wait = getattr(exc, "wait", None)  # DRF sets it; its stubs do not declare it
    return max(1, math.ceil(wait or 1))


def _oauth_path(context: dict[str, Any]) -> bool:
    return str(getattr(context.get("request"), "path", "")).startswith(OAUTH_PATH_PREFIXES)


def _authorization_sent(context: dict[str, Any]) -> bool:
    request = context.get("request")
    return bool(getattr(request, "META", {}).get("HTTP_AUTHORIZATION", "").strip())


def _as_oauth_error(exc: Exception) -> tuple[OAuthError, int] | None:
    """Any refusal on an OAuth path in OAuth's terms, with its status; None for server-side errors."""
    if isinstance(exc, OAuthError):
        return exc, exc.status_code
    if isinstance(exc, drf.Throttled):
        throttled = OAuthTooManyRequests.after(_retry_after(exc))
        return throttled, throttled.status_code
    if isinstance(exc, NotAuthenticated | TokenInvalid | drf.NotAuthenticated | drf.AuthenticationFailed):
        return OAuthInvalidClient(), 401
    if isinstance(exc, drf.MethodNotAllowed):
        return OAuthInvalidRequest("Use POST."), 405
    if isinstance(exc, RequestDataTooBig):
        return OAuthInvalidRequest("The request body is too large."), 413
    if isinstance(exc, IdentityError | drf.APIException) and exc.status_code < 500:
        return OAuthInvalidRequest(), 400
    return None


def _oauth_response(exc: Exception, context: dict[str, Any]) -> Response:
    mapped = _as_oauth_error(exc)
    if mapped is None:
        response = _server_error(exc, context)
        response.data = {"error": "server_error", "error_description": "The request could not be completed."}
    else:
        error, status = mapped
        headers = dict(error.headers)
        if status == 401 and "WWW-Authenticate" not in headers and _authorization_sent(context):
            # RFC 6749 §5.2: a client that tried the Authorization header (any scheme, an API key
            # included) is told, with the challenge, which scheme authenticates a client here.
            headers["WWW-Authenticate"] = OAuthInvalidClient.REALM
        response = Response(error.body(), status=status, headers=headers)
    for name, value in NO_STORE.items():
        response[name] = value
    return response


DATABASE_RETRY_AFTER_SECONDS = 5


def _database_unavailable(exc: Exception, context: dict[str, Any], body: dict[str, Any]) -> Response:
    """A request the database could not serve (down, restarting, refusing connections): 503 with
    Retry-After, and one log line naming the error, not a 500 and a traceback per request."""
    request = context.get("request")
    logger.warning(
        "database unavailable on %s %s: %s: %s",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        type(exc).__name__,
        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
    )
    set_rollback()
    return Response(body, status=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


def identity_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        oauth = _oauth_path(context)
        body = (
            {"error": "temporarily_unavailable", "error_description": "The service is briefly unavailable."}
            if oauth
            else {"generalErrors": [{"code": "[ServiceUnavailable]", "message": "Retry later."}]}
        )
        unavailable = _database_unavailable(exc, context, body)
        if oauth:
            for name, value in NO_STORE.items():
                unavailable[name] = value
        return unavailable
    if _oauth_path(context):
        return _oauth_response(exc, context)
    if isinstance(exc, IdentityError):
        return _identity_response(exc, context)
    if isinstance(
        exc, drf.NotAuthenticated | drf.AuthenticationFailed | drf.PermissionDenied | DjangoPermissionDenied
    ):
        return _empty(401)
    if isinstance(exc, drf.NotFound | Http404):
        return _empty(404)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"generalErrors": [{"code": "[tooLarge]", "message": "The request body is too large."}]},
            status=413,
        )
    if isinstance(exc, drf.ParseError):
        return Response(
            {"generalErrors": [{"code": "[invalid]", "message": "Your JSON was invalid."}]}, status=400
        )
    if isinstance(exc, drf.ValidationError):
        return Response(validation_error_body(exc.detail), status=400)
    if isinstance(exc, drf.MethodNotAllowed):
        return _empty(405)
    if isinstance(exc, drf.Throttled):
        return Response(
            {"generalErrors": [{"code": "[TooManyRequests]", "message": "Too many requests; retry later."}]},
            status=429,
            headers={"Retry-After": str(_retry_after(exc))},
        )
    response = drf_exception_handler(exc, context)
    if response is None or response.status_code >= 500:
        return _server_error(exc, context, 500 if response is None else response.status_code)
    if isinstance(exc, drf.APIException):
        code = exc.get_codes()
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response.data = {
            "generalErrors": [
                {"code": f"[{code}]" if isinstance(code, str) else "[error]", "message": message}
            ]
        }
    return response
