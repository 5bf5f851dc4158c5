"""The one place where errors become HTTP responses, in FusionAuth's shapes.

400 always carries an Errors JSON body (the official SDK raises on an empty or non-JSON 400);
401 and 404 carry nothing, so a caller cannot tell which part of its credentials was wrong or
whether a hidden object exists. Unknown exceptions return None and become logged 500s.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from identity.exceptions import (
    Conflict,
    ErrorItem,
    IdentityError,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)

# DRF's validation codes → FusionAuth's error types.
_DRF_CODE_TO_TYPE = {
    "required": "blank",
    "blank": "blank",
    "null": "blank",
    "max_length": "tooLong",
    "min_length": "tooShort",
    "max_value": "tooLarge",
    "min_value": "tooSmall",
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


@cache
def _status_table() -> tuple[dict[type[IdentityError], int], frozenset[type[IdentityError]]]:
    """Domain error → HTTP status, and which of them answer with an empty body."""
    from identity.services.access_tokens import SigningKeyMissing
    from identity.services.login import LoginFailed, LoginPrevented, UserExpired, UserLocked
    from identity.signing import TokenInvalid

    statuses: dict[type[IdentityError], int] = {
        NotAuthenticated: 401,
        TokenInvalid: 401,
        NotFound: 404,
        LoginFailed: 404,
        Conflict: 409,
        LoginPrevented: 409,
        UserExpired: 410,
        UserLocked: 423,
        SigningKeyMissing: 500,
    }
    empty = frozenset({NotAuthenticated, TokenInvalid, NotFound, LoginFailed})
    return statuses, empty


def _identity_response(exc: IdentityError) -> Response:
    if isinstance(exc, ValidationFailed):
        return Response(exc.as_json(), status=400)
    statuses, empty = _status_table()
    for cls in type(exc).__mro__:
        if cls in statuses:
            if cls in empty:
                return _empty(statuses[cls])
            return Response(
                {"generalErrors": [ErrorItem(exc.code, exc.message).as_json()]}, status=statuses[cls]
            )
    return Response({"generalErrors": [ErrorItem(exc.code, exc.message).as_json()]}, status=400)


def identity_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, IdentityError):
        return _identity_response(exc)
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
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, drf.APIException):
        code = exc.get_codes()
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response.data = {
            "generalErrors": [
                {"code": f"[{code}]" if isinstance(code, str) else "[error]", "message": message}
            ]
        }
    return response
