"""Sessions, the session's user and messages live on the console's paths only
(identity.middleware_console): the admin signs in and out as before, an API request neither reads
nor writes a session, and a console session cookie gives an API call no user."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from identity.middleware_console import CONSOLE_PATH
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():  # type: ignore[no-untyped-def]
    user = UserFactory(is_staff=True, is_superuser=True)
    user.set_password("console-pass-1")
    user.save()
    return user


def test_the_console_still_signs_in_with_a_session(client: Client, staff) -> None:
    assert client.get(f"/{CONSOLE_PATH}").status_code == 302  # to the login page
    client.force_login(staff)
    page = client.get(f"/{CONSOLE_PATH}")
    assert page.status_code == 200
    assert Session.objects.count() == 1


@pytest.mark.parametrize("path", ["/api/status", "/api/jwt/validate", "/.well-known/jwks.json"])
def test_an_api_request_neither_reads_nor_writes_a_session(client: Client, staff, path: str) -> None:
    client.force_login(staff)
    sessions = Session.objects.count()
    response = client.get(path)
    assert "sessionid" not in response.cookies
    assert "Cookie" not in response.headers.get("Vary", "")
    assert not hasattr(response.wsgi_request, "session")
    assert Session.objects.count() == sessions
