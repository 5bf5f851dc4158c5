"""The admin console and the API docs in Chromium, with DEBUG off under gunicorn."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import expect

from identity.services.oauth_clients import oauth_client_configure
from tests.browser.conftest import screenshot
from tests.factories import DEFAULT_PASSWORD, TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_in(page: Any, email: str) -> None:
    page.goto("/admin/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def test_admin_login_page_is_styled(page: Any) -> None:
    stylesheets: list[tuple[str, int]] = []
    page.on("response", lambda r: stylesheets.append((r.url, r.status)) if r.url.endswith(".css") else None)
    page.goto("/admin/login/")
    assert any("/static/admin/css/base." in url and status == 200 for url, status in stylesheets), stylesheets
    assert all(status == 200 for _, status in stylesheets), stylesheets
    # base.css gives the header its colours and the login box a width; unstyled, neither is set.
    header_bg = page.eval_on_selector("#header", "e => getComputedStyle(e).backgroundColor")
    assert header_bg not in ("rgba(0, 0, 0, 0)", "transparent"), header_bg
    width = page.eval_on_selector("#container", "e => e.getBoundingClientRect().width")
    assert width < 600, width  # login.css narrows the box
    screenshot(page, "admin-login")
    assert page.foreign_requests == []


def test_an_operator_signs_in_and_opens_the_tenant_list(page: Any, staff_user: Any) -> None:
    TenantFactory(name="Browser tenant")
    _sign_in(page, staff_user.email)
    screenshot(page, "admin-index")
    page.goto("/admin/identity/tenant/")
    expect(page.locator("#result_list")).to_be_visible()
    expect(page.get_by_role("link", name="Browser tenant")).to_be_visible()
    screenshot(page, "admin-tenants")
    assert page.foreign_requests == []


def test_a_wrong_password_keeps_the_operator_out(page: Any, staff_user: Any) -> None:
    page.goto("/admin/login/")
    page.fill("input[name=username]", staff_user.email)
    page.fill("input[name=password]", "not-the-password")
    page.click("input[type=submit]")
    expect(page.locator(".errornote")).to_be_visible()
    page.goto("/admin/identity/tenant/")
    assert "/admin/login/" in page.url


def test_swagger_ui_renders_offline_and_authorizes_an_oauth_client(page: Any, world: Any) -> None:
    """The docs page from this server alone; its OAuth2 client-credentials scheme works as a reader
    would use it: Authorize with the client's id and secret (Swagger UI fetches the token at the
    scheme's tokenUrl), then "Try it out" on GET /api/jwt/validate answers 200 with that token."""
    configured = oauth_client_configure(
        application=world.application, scopes=["read"], enabled_grants=["client_credentials"]
    )
    answers: list[tuple[str, str, int]] = []
    page.on(
        "response",
        lambda r: answers.append((r.request.method, urlsplit(r.url).path, r.status)),
    )
    page.goto("/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "identity" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/login" in p for p in paths), paths[:10]
    expect(page.locator(".btn.authorize")).to_be_visible()  # the security schemes are declared
    screenshot(page, "api-docs")

    page.click("button.authorize")
    client = page.locator(".auth-container").filter(has_text="OAuth2ClientCredentials")
    client.locator("#client_id_clientCredentials").fill(str(world.application.pk))
    client.locator("#client_secret_clientCredentials").fill(configured.client_secret)
    with page.expect_response(lambda r: urlsplit(r.url).path == "/oauth2/token") as issued:
        client.locator("button.authorize").click()
    assert issued.value.status == 200, issued.value.text()
    page.locator(".auth-container button.btn-done").first.click()
    validate = page.locator("#operations-JWT-validateJWT")
    validate.locator(".opblock-summary").click()
    validate.locator("button.try-out__btn").click()
    validate.locator("button.execute").click()
    expect(validate.locator(".live-responses-table .response .response-col_status").first).to_have_text("200")
    assert ("POST", "/oauth2/token", 200) in answers
    assert ("GET", "/api/jwt/validate", 200) in answers
    assert page.foreign_requests == []


def test_an_operator_makes_an_application_an_oauth_client_and_rotates_its_secret(
    page: Any, staff_user: Any, world: Any
) -> None:
    """The secret shown once on the page works at /connect/token; a rotation with an overlap shows
    a new one, and both work until the overlap ends."""
    server = page.server

    def grant(secret: str) -> int:
        body = urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": str(world.application.pk),
                "client_secret": secret,
            }
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return server.request("POST", "/connect/token", body=body.encode(), headers=headers).status

    _sign_in(page, staff_user.email)
    page.goto(f"/admin/identity/application/{world.application.pk}/change/")
    page.check("input[name='oauth_configuration-0-is_client']")
    page.fill("input[name='oauth_configuration-0-scopes']", "reports.read")
    screenshot(page, "admin-application-oauth-client")
    page.click("input[name=_save]")
    secret_cell = page.locator("pre.readonly").nth(1)
    expect(secret_cell).to_be_visible()
    screenshot(page, "admin-application-oauth-secret-shown-once")
    first = secret_cell.inner_text().strip()
    assert grant(first) == 200, server.log_tail()

    page.goto("/admin/identity/application/")
    page.locator("#result_list tbody tr").first.locator("input.action-select").check()
    page.select_option("select[name=action]", "rotate_client_secret")
    page.click("button[name=index]")
    page.fill("input[name=overlap_seconds]", "3600")
    screenshot(page, "admin-application-rotate-client-secret")
    page.click("input[type=submit]")
    second = page.locator("pre.readonly").first.inner_text().strip()
    assert second != first
    assert grant(second) == 200 and grant(first) == 200
    assert page.foreign_requests == []
