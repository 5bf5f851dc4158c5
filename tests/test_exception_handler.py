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
