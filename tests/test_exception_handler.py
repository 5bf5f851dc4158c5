"""Server-side errors answer one generic body; the detail is logged only."""

from __future__ import annotations

import logging

import pytest

from identity.exception_handler import SERVER_ERROR_BODY, identity_exception_handler
from identity.services.access_tokens import SigningKeyMissing


@pytest.mark.parametrize("exc", [RuntimeError("db password is hunter2"), SigningKeyMissing()])
def test_server_errors_are_generic_and_logged(exc, caplog):
    with caplog.at_level(logging.ERROR, logger="identity.errors"):
        response = identity_exception_handler(exc, {})
    assert response is not None
    assert (response.status_code, response.data) == (500, SERVER_ERROR_BODY)
    assert str(exc) in caplog.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/login", {"generalErrors": [{"code": "[ServiceUnavailable]", "message": "Retry later."}]}),
        (
            "/oauth2/token",
            {"error": "temporarily_unavailable", "error_description": "The service is briefly unavailable."},
        ),
    ],
)
def test_an_unreachable_database_is_503_with_retry_after_and_one_log_line(path, body, caplog):
    from django.db import OperationalError
    from rest_framework.test import APIRequestFactory

    request = APIRequestFactory().post(path)
    exc = OperationalError('connection failed: connection to server at "127.0.0.1", port 5432 failed\nmore')
    with caplog.at_level(logging.WARNING):
        response = identity_exception_handler(exc, {"request": request})
    assert response is not None
    assert (response.status_code, response.data, response["Retry-After"]) == (503, body, "5")
    assert [r.getMessage() for r in caplog.records] == [
        f"database unavailable on POST {path}: OperationalError: connection failed: connection to server at "
        '"127.0.0.1", port 5432 failed'
    ]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback per request
