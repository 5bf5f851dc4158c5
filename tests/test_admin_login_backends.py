"""Login backends in the console: an inline of the application page whose rows are checked by
login_backend_validate and written by the login-backend services (as the API and commands do)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from identity import admin as identity_admin
from identity.models import Application, AuditEntry, LoginBackend
from identity.services.login_backends import login_backend_create
from tests import test_admin
from tests.api.helpers import db_state
from tests.test_admin import Rows, counting, form_data, url

rows = test_admin.rows  # the console's fixture rows (a tenant, its application, …)

pytestmark = pytest.mark.django_db
P = "login_backends"


def _row(index: int, **values: str) -> dict[str, str]:
    defaults = {
        "name": "", "transport": "bearer", "lifetime_seconds": "3600", "cookie_name": "fastapiusersauth",
        "cookie_domain": "", "cookie_path": "/", "cookie_secure": "on", "cookie_samesite": "lax",
    }  # fmt: skip
    merged = {**defaults, **values}
    if merged["cookie_secure"] != "on":
        del merged["cookie_secure"]  # an unticked box is not sent
    return {f"{P}-{index}-{name}": value for name, value in merged.items()}


def _post(admin_client: Client, application: Application, rows_: int, **fields: str) -> Any:
    page = admin_client.get(url(Application, "change", application.pk))
    data = form_data(page, **{f"{P}-TOTAL_FORMS": str(rows_)}, **fields)
    return admin_client.post(url(Application, "change", application.pk), data)


def test_a_backend_added_on_the_application_page_goes_through_the_service(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting(monkeypatch, identity_admin, "login_backend_create")
    response = _post(admin_client, rows.application, 1, **_row(0, name="web", transport="cookie",
                                                                lifetime_seconds="900"))  # fmt: skip
    assert response.status_code == 302, response.context and response.context["inline_admin_formsets"]
    assert len(calls) == 1
    backend = LoginBackend.objects.get()
    assert (backend.name, backend.transport, backend.lifetime_seconds) == ("web", "cookie", 900)
    assert AuditEntry.objects.filter(action="login_backend.create", object_id=str(backend.pk)).exists()


def test_change_and_delete_go_through_the_services(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = login_backend_create(application=rows.application, name="jwt")
    updates = counting(monkeypatch, identity_admin, "login_backend_update")
    assert _post(admin_client, rows.application, 1, **{f"{P}-0-lifetime_seconds": "60"}).status_code == 302
    assert updates == [{"backend": backend, "lifetime_seconds": 60}]
    backend.refresh_from_db()
    assert backend.lifetime_seconds == 60
    deletes = counting(monkeypatch, identity_admin, "login_backend_delete")
    assert _post(admin_client, rows.application, 1, **{f"{P}-0-DELETE": "on"}).status_code == 302
    assert len(deletes) == 1 and not LoginBackend.objects.exists()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "two words"}, "name"),
        ({"name": "café"}, "name"),
        ({"name": "taken"}, "name"),
        ({"lifetime_seconds": "0"}, "lifetime_seconds"),
        ({"lifetime_seconds": str(10**9)}, "lifetime_seconds"),
        ({"cookie_samesite": "none", "cookie_secure": ""}, "cookie_samesite"),
        ({"cookie_name": "a;b"}, "cookie_name"),
        ({"cookie_path": "/a;Domain=evil.example"}, "cookie_path"),
        ({"cookie_domain": "example.com/x"}, "cookie_domain"),
    ],
)
def test_invalid_rows_are_form_errors_and_change_nothing(
    admin_client: Client, rows: Rows, values: dict[str, str], field: str
) -> None:
    other = Application.objects.exclude(pk=rows.application.pk).first() or rows.application
    login_backend_create(application=other, name="taken")
    before = db_state()
    response = _post(admin_client, rows.application, 2, **_row(1, **{"name": "fresh", **values}))
    assert response.status_code == 200
    formset = next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == P)
    assert field in formset.forms[1].errors, formset.errors
    assert db_state() == before


def test_two_rows_cannot_take_one_name(admin_client: Client, rows: Rows) -> None:
    before = db_state()
    response = _post(admin_client, rows.application, 2, **_row(0, name="same"), **_row(1, name="same"))
    assert response.status_code == 200
    formset = next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == P)
    assert "name" in str(formset.non_form_errors())
    assert db_state() == before
