"""`GET /api/status` (readiness: the database answers) and `GET /api/health/live` (liveness: touches
nothing). Anonymous, uncached, and they reveal nothing but one word."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.test.utils import CaptureQueriesContext

from identity import selectors

pytestmark = pytest.mark.django_db


def test_status_is_ok_when_the_database_answers(api_client) -> None:
    answer = api_client.get("/api/status")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert "no-store" in answer["Cache-Control"]


def test_status_is_503_when_the_database_fails(api_client, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def __enter__(self) -> Broken:
            raise DatabaseError("connection to server at 10.0.0.9 failed: password=hunter2")

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(selectors.connection, "cursor", lambda: Broken())
    answer = api_client.get("/api/status")
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable"}
    assert b"hunter2" not in answer.content
    assert b"10.0.0.9" not in answer.content


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "not-a-key"},
        {"HTTP_AUTHORIZATION": "Bearer x.y.z"},
        {"HTTP_X_FUSIONAUTH_TENANTID": "not-a-uuid"},
    ],
)
@pytest.mark.parametrize("path", ["/api/status", "/api/health/live"])
def test_probes_ignore_credentials_and_tenant_headers(api_client, path: str, headers: dict) -> None:
    answer = api_client.get(path, **headers)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_liveness_touches_no_database(api_client) -> None:
    from django.db import connection

    with CaptureQueriesContext(connection) as queries:
        answer = api_client.get("/api/health/live")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert len(queries) == 0


@pytest.mark.parametrize("method", ["post", "put", "delete"])
@pytest.mark.parametrize("path", ["/api/status", "/api/health/live"])
def test_probes_are_read_only(api_client, path: str, method: str) -> None:
    assert getattr(api_client, method)(path).status_code == 405


def test_probes_are_exempt_from_the_https_redirect(api_client, settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    assert api_client.get("/api/status").status_code == 200
    assert api_client.get("/api/health/live").status_code == 200
    assert api_client.get("/api/key").status_code == 301
