"""An operator sets a service up from nothing in the admin console, in Chromium against gunicorn with
DEBUG off (issue 14): sign in; the dashboard draws its chart; create a tenant, an application with
roles, a user and a registration; generate a signing key and see its secret once and never again;
create an API key and use it to log the user in through the API; find the user's session on the
dashboard and in the refresh-token list, revoke it, and see the refresh fail. One server, one
test: every step builds on the one before."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from identity.models import Application, User
from tests.browser.conftest import screenshot
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

TENANT = "Browser Co"
APPLICATION = "Browser app"
EMAIL = "walker@browser.example"
PASSWORD = "violet kettle 4 moonrise"


def _sign_in(page: Any, email: str) -> None:
    page.goto("/admin/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def _pick(page: Any, field: str, text: str) -> None:
    """Choose `text` in an autocomplete (select2) field: open it, type, take the match."""
    page.click(f"#id_{field} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", text)
    page.locator(".select2-results__option", has_text=text).first.click()


def _save(page: Any) -> None:
    page.click("input[name=_save]")


def _shown_once(page: Any, label: str) -> str:
    """The value labelled `label` on a shown-once page (an API key, an HMAC secret)."""
    expect(page.locator(".messagelist .warning")).to_contain_text("only time")
    row = page.locator("fieldset .form-row", has=page.locator("label", has_text=label))
    return str(row.locator("pre.readonly").inner_text()).strip()


def _chart_bars(page: Any) -> int:
    return int(page.locator("#activity-chart rect.bar").count())


def test_an_operator_sets_up_a_service_and_ends_a_session(page: Any, staff_user: Any) -> None:
    server = page.server
    _sign_in(page, staff_user.email)

    # The index is a dashboard: its chart is drawn by the server, 24 hours x 2 series.
    expect(page.locator("#activity-chart")).to_be_visible()
    assert _chart_bars(page) == 48
    expect(page.locator("#dashboard-sessions")).to_contain_text("No live sessions.")
    screenshot(page, "flow-01-dashboard-empty")

    # A tenant (it gets its own signing key).
    page.goto("/admin/identity/tenant/add/")
    page.fill("input[name=name]", TENANT)
    page.fill("input[name=issuer]", "https://browser.example")
    _save(page)
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    expect(page.locator("#result_list").get_by_role("link", name=TENANT)).to_be_visible()

    # An application with two roles, `user` granted by default, issuing refresh tokens.
    page.goto("/admin/identity/application/add/")
    _pick(page, "tenant", TENANT)
    page.fill("input[name=name]", APPLICATION)
    page.check("input[name=generate_refresh_tokens]")
    page.check("input[name=allow_token_refresh]")
    page.fill("input[name=roles-0-name]", "admin")
    page.get_by_text(re.compile("Add another .*role", re.I)).click()
    page.fill("input[name=roles-1-name]", "user")
    page.check("input[name=roles-1-is_default]")
    screenshot(page, "flow-02-application")
    _save(page)
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    application = Application.objects.get(name=APPLICATION)
    assert sorted(application.roles.values_list("name", "is_default")) == [("admin", False), ("user", True)]

    # A user of the tenant, then a registration to the application (default roles).
    page.goto("/admin/identity/user/add/")
    _pick(page, "tenant", TENANT)
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    _save(page)
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    user = User.objects.get(email=EMAIL)
    assert user.tenant_id == application.tenant_id

    page.goto("/admin/identity/registration/add/")
    _pick(page, "user", EMAIL)
    page.select_option("select[name=application]", label=f"{TENANT} / {APPLICATION}")
    _save(page)
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    assert user.registrations.get().roles == ["user"]

    # An HMAC signing key: its secret is on the page that answers the add, and nowhere after.
    page.goto("/admin/identity/signingkey/add/")
    page.select_option("select[name=tenant]", label=TENANT)
    page.fill("input[name=name]", "browser hmac")
    page.select_option("select[name=algorithm]", "HS256")
    _save(page)
    secret = _shown_once(page, "HMAC secret")
    assert len(secret) >= 32
    screenshot(page, "flow-03-secret-shown-once")
    for url in (
        page.locator("a.button", has_text="Continue").get_attribute("href"),
        "/admin/identity/signingkey/",
    ):
        page.goto(url)
        assert secret not in page.content()

    # An API key for any tenant, shown once; with it, the user logs in through the API.
    page.goto("/admin/identity/apikey/add/")
    page.fill("input[name=name]", "browser key")
    _save(page)
    api_key = _shown_once(page, "API key")
    page.goto("/admin/identity/apikey/")
    assert api_key not in page.content()

    login = server.request(
        "POST",
        "/api/login",
        json_body={"loginId": EMAIL, "password": PASSWORD, "applicationId": str(application.pk)},
        headers={"Authorization": api_key},
    )
    assert login.status == 200, (login.body, server.log_tail())
    refresh = login.json()["refreshToken"]
    assert server.request("POST", "/api/jwt/refresh", json_body={"refreshToken": refresh}).status == 200

    # The dashboard shows the session, and the hour's bar has grown.
    page.goto("/admin/")
    expect(page.locator("#dashboard-sessions")).to_contain_text(APPLICATION)
    expect(page.locator("#figure-live-sessions")).to_have_text("1")
    expect(page.locator("#figure-sessions-opened")).to_have_text("1")
    assert _chart_bars(page) == 48
    tallest = page.eval_on_selector_all(
        "#activity-chart rect.bar.logins",
        "bars => Math.max(...bars.map(b => Number(b.getAttribute('height'))))",
    )
    assert tallest > 0
    screenshot(page, "flow-04-dashboard-with-a-session")

    # Find the session from the user's email, revoke it: the next refresh fails.
    page.goto(f"/admin/identity/refreshtoken/?q={EMAIL}")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    rows.first.locator("input.action-select").check()
    page.select_option("select[name=action]", "revoke_selected")
    page.click("button[name=index]")
    expect(page.locator("ul.messagelist")).to_be_visible()
    screenshot(page, "flow-05-session-revoked")
    answer = server.request("POST", "/api/jwt/refresh", json_body={"refreshToken": refresh})
    assert answer.status == 400, answer.body
    assert answer.json()["fieldErrors"]["refreshToken"][0]["code"] == "[invalid]refreshToken"

    page.goto("/admin/")
    expect(page.locator("#figure-live-sessions")).to_have_text("0")
    assert page.foreign_requests == []
