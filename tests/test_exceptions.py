"""Every domain error answers with the status and body its class declares, in FusionAuth's shapes."""

from __future__ import annotations

import inspect

import pytest

from identity import exceptions
from identity.exception_handler import SERVER_ERROR_BODY, identity_exception_handler
from identity.exceptions import IdentityError

EXPECTED_STATUS = {
    "IdentityError": 400,
    "ValidationFailed": 400,
    "TenantIdRequired": 400,
    "RefreshTokenUnusable": 400,
    "NotAuthenticated": 401,
    "TokenInvalid": 401,
    "TokenExpired": 401,
    "FastAPIUsersError": 400,
    "LoginBadCredentials": 400,
    "LoginUserNotVerified": 400,
    "NotFound": 404,
    "LoginFailed": 404,
    "Conflict": 409,
    "LoginPrevented": 409,
    "UserExpired": 410,
    "UserLocked": 423,
    "SigningKeyMissing": 500,
    # OAuth2 endpoints (RFC 6749 §5.2 shape, whatever the path).
    "OAuthError": 400,
    "OAuthInvalidRequest": 400,
    "OAuthInvalidClient": 401,
    "OAuthInvalidGrant": 400,
    "OAuthUnauthorizedClient": 400,
    "OAuthUnsupportedGrantType": 400,
    "OAuthInvalidScope": 400,
    "OAuthInvalidTarget": 400,
    "OAuthUnsupportedTokenType": 400,
    "OAuthTooManyRequests": 429,
}

ERRORS = [
    cls
    for _, cls in inspect.getmembers(exceptions, inspect.isclass)
    if issubclass(cls, IdentityError) and cls.__module__ == exceptions.__name__
]


def test_every_domain_error_is_in_this_table():
    assert {cls.__name__ for cls in ERRORS} == set(EXPECTED_STATUS)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_the_handler_answers_what_the_class_declares(cls):
    exc = cls()
    response = identity_exception_handler(exc, {})
    assert response is not None
    assert response.status_code == cls.status_code == EXPECTED_STATUS[cls.__name__]
    if issubclass(cls, exceptions.OAuthError):
        assert response.data == {"error": cls.default_code, "error_description": cls.default_detail}
    elif response.status_code in (401, 404):
        assert response.data is None  # nothing tells a caller which credential or object was wrong
    elif issubclass(cls, exceptions.ValidationFailed):
        assert isinstance(response.data, dict)  # the SDK raises on a 400 without a JSON object
    elif response.status_code >= 500:
        assert response.data == SERVER_ERROR_BODY  # the detail goes to the log, never to the caller
    elif issubclass(cls, exceptions.FastAPIUsersError):
        assert response.data == {"detail": cls.default_code}  # fastapi-users' shape (/auth/<name>/)
    else:
        assert response.data == {"generalErrors": [{"code": cls.default_code, "message": cls.default_detail}]}


def test_a_message_given_at_raise_time_is_the_one_answered():
    response = identity_exception_handler(exceptions.Conflict("Not now."), {})
    assert response is not None
    assert response.data == {"generalErrors": [{"code": "[Conflict]", "message": "Not now."}]}
