"""The operator's everyday tasks (issue 19), walked in Chromium against one production-mode server:
a user's registrations and live sessions (revoke one, sign out everywhere, unlock), the refresh-token
list and a token's page, key status with "make it the signing key" and "Rotate", the public-key
import form, and the scoped pickers. One test, so one server and one browser context for the walk."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone
from playwright.sync_api import expect

from identity.models import RefreshToken, SigningKey, User
from identity.services.identity_providers import external_jwt_provider_create
from tests.browser.conftest import screenshot
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory, make_signing_key
from tests.live import world_login

pytestmark = pytest.mark.django_db(transaction=True)


def _refresh_status(server: Any, token: str) -> int:
    return server.request("POST", "/api/jwt/refresh", json_body={"refreshToken": token}).status


def _run_action(page: Any, action: str, row_text: str, confirm: str | None = None) -> None:
    """Tick the list row showing `row_text`, run the admin action (answering its confirmation page
    with the `confirm` button when it asks first), wait for its message."""
    page.locator("#result_list tbody tr", has_text=row_text).locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    if confirm is not None:
        expect(page.locator("#content li", has_text=row_text)).to_be_visible()
        page.click(f"input[type=submit][value='{confirm}']")
    expect(page.locator("ul.messagelist")).to_be_visible()


def _fits(page: Any) -> None:
    """The change list's columns fit the 1400 px window: its table needs no horizontal scrolling."""
    widths = page.eval_on_selector("#changelist .results", "e => [e.scrollWidth, e.clientWidth]")
    columns = page.eval_on_selector_all(
        "#result_list thead th",
        "es => es.map(e => [e.innerText, Math.round(e.getBoundingClientRect().width)])",
    )
    assert widths[0] <= widths[1], (widths, columns)


def _status_of(page: Any, key_name: str) -> str:
    return page.locator("#result_list tbody tr", has_text=key_name).locator("td.field-status").inner_text()


def test_an_operator_walks_the_console_tasks(page: Any, staff_user: Any, world: Any) -> None:
    server = page.server
    page.set_viewport_size({"width": 1400, "height": 900})
    phone = world_login(server, world, metaData={"device": {"name": "Ann's phone", "type": "MOBILE"}})
    laptop = world_login(server, world, metaData={"device": {"name": "Ann's laptop", "type": "BROWSER"}})
    assert phone.status == laptop.status == 200, server.log_tail()
    phone_token, laptop_token = phone.json()["refreshToken"], laptop.json()["refreshToken"]
    User.objects.filter(pk=world.user.pk).update(
        locked_until=timezone.now() + timedelta(hours=1), failed_login_count=5
    )
    assert world_login(server, world).status == 409

    # Sign in; "View site" is gone.
    page.goto("/admin/login/")
    page.fill("input[name=username]", staff_user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    expect(page.get_by_role("link", name="View site")).to_have_count(0)

    # The user list shows ids, locked and last login; the user page its registrations and sessions.
    page.goto(f"/admin/identity/user/?q={world.user.email}")
    row = page.locator("#result_list tbody tr").first
    expect(row).to_contain_text(str(world.user.pk))
    expect(row.locator("td.field-locked img[alt=True]")).to_have_count(1)
    row.get_by_role("link", name=world.user.email).click()
    registrations = page.locator("#registrations-group")
    expect(registrations).to_contain_text("Portal")
    expect(registrations.locator("input[type=checkbox][value=user]")).to_be_checked()
    expect(registrations.locator("input[type=checkbox][value=admin]")).not_to_be_checked()
    expect(page.locator("fieldset", has_text="Console permissions")).to_have_count(
        0
    )  # not the default tenant
    sessions = page.locator("#refresh_tokens-group tbody tr.has_original")
    expect(sessions).to_have_count(2)
    expect(sessions.filter(has_text="Ann's phone")).to_have_count(1)
    screenshot(page, "console-user-page")

    # Revoke one session: only that token stops refreshing.
    sessions.filter(has_text="Ann's phone").get_by_role("button", name="Revoke this session").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Revoked 1")
    expect(sessions).to_have_count(1)
    assert _refresh_status(server, phone_token) == 400
    assert _refresh_status(server, laptop_token) == 200

    # Unlock: the login works again (a third session); then sign out everywhere ends them all.
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator("ul.messagelist")).to_contain_text("is unlocked")
    expect(page.get_by_role("button", name="Unlock")).to_have_count(0)
    tablet = world_login(server, world, metaData={"device": {"name": "Ann's tablet"}})
    assert tablet.status == 200, tablet.body
    registrations.locator("input[type=checkbox][value=admin]").check()
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")
    assert sorted(world.user.registrations.get().roles) == ["admin", "user"]
    expect(sessions).to_have_count(2)
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Revoked 2")
    expect(sessions).to_have_count(0)
    assert (
        _refresh_status(server, laptop_token) == _refresh_status(server, tablet.json()["refreshToken"]) == 400
    )

    # The refresh-token list: live sessions by default (revoke from the list), revoked ones behind
    # the filter, searchable by user id and email, fitting 1400 px; a token's page has Revoke and no
    # Delete.
    fresh = world_login(server, world, metaData={"device": {"name": "Ann's desktop"}}).json()
    kiosk = world_login(server, world, metaData={"device": {"name": "Ann's kiosk"}}).json()
    page.goto("/admin/identity/refreshtoken/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    _fits(page)
    screenshot(page, "console-refresh-tokens")
    _run_action(page, "revoke_selected", "Ann's kiosk")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    assert _refresh_status(server, kiosk["refreshToken"]) == 400
    page.goto("/admin/identity/refreshtoken/?status=revoked")
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    for term in (str(world.user.pk), world.user.email.upper()):
        page.goto(f"/admin/identity/refreshtoken/?status=all&q={term}")
        expect(page.locator("#result_list tbody tr")).to_have_count(5)
    page.goto(f"/admin/identity/refreshtoken/{fresh['refreshTokenId']}/change/")
    expect(page.locator(".deletelink")).to_have_count(0)
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Revoked 1")
    assert _refresh_status(server, fresh["refreshToken"]) == 400
    assert RefreshToken.objects.filter(user=world.user, revoked_at__isnull=True).count() == 0

    # Key status: which key signs now, which only verifies (until when), which is unused; make a
    # key the signer, then rotate the tenant's key.
    signer = world.tenant.access_token_signing_key
    spare = make_signing_key(tenant=world.tenant, name="spare key")
    page.goto(f"/admin/identity/signingkey/?tenant__id__exact={world.tenant.pk}")
    assert _status_of(page, signer.name).startswith(f"signs now for tenant {world.tenant.name}")
    assert _status_of(page, "spare key") == "unused"
    _run_action(page, "make_signing_key", "spare key")
    expect(page.locator("ul.messagelist")).to_contain_text(f"now signs with kid {spare.kid}")
    assert _status_of(page, "spare key").startswith(f"signs now for tenant {world.tenant.name}")
    assert _status_of(page, signer.name).startswith(f"verifies only, for tenant {world.tenant.name} until ")
    _fits(page)
    screenshot(page, "console-key-status")
    page.goto(f"/admin/identity/tenant/?q={world.tenant.name}")
    _run_action(page, "rotate_signing_key", world.tenant.name, confirm="Rotate the signing keys")
    world.tenant.refresh_from_db()
    rotated = world.tenant.access_token_signing_key
    assert rotated.pk not in {signer.pk, spare.pk}
    page.goto(f"/admin/identity/signingkey/?tenant__id__exact={world.tenant.pk}")
    assert _status_of(page, rotated.name).startswith("signs now for")
    assert _status_of(page, "spare key").startswith("verifies only")
    assert world_login(server, world).status == 200  # tokens are signed with the rotated key

    # Import a provider's public key: a bad paste is a form error and stores nothing.
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    page.goto("/admin/identity/signingkey/")
    page.get_by_role("link", name="Import public key / certificate").click()
    keys_before = SigningKey.objects.count()
    page.select_option("select[name=tenant]", label=world.tenant.name)
    page.fill("input[name=name]", "partner key")
    page.fill("textarea[name=public_key]", "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----")
    page.click("input[type=submit]")
    expect(page.locator(".errorlist")).to_be_visible()
    assert SigningKey.objects.count() == keys_before
    page.fill("textarea[name=public_key]", pem)
    page.click("input[type=submit]")
    expect(page.locator("ul.messagelist")).to_contain_text("(verify only)")
    imported = SigningKey.objects.get(name="partner key")
    assert (imported.tenant_id, imported.has_private_key) == (world.tenant.pk, False)

    # Scoped pickers: the provider's key picker offers its tenant's public keys only (no other
    # tenant's keys, no HMAC secret); applications carry their tenant's name.
    other = TenantFactory(name="Other tenant")
    other_key = make_signing_key(tenant=other, name="other tenant key")
    hmac_key = make_signing_key(algorithm="HS256", tenant=world.tenant, name="hmac key")
    provider = external_jwt_provider_create(
        tenant=world.tenant, name="Partner", keys=[imported], applications=[world.application]
    )
    page.goto(f"/admin/identity/externaljwtprovider/{provider.pk}/change/")
    offered = " | ".join(
        page.locator("#id_verification_keys_from option, #id_verification_keys_to option").all_inner_texts()
    )
    assert "partner key" in offered and "spare key" in offered
    assert other_key.name not in offered and hmac_key.name not in offered
    applications = page.locator("#id_applications_from option, #id_applications_to option").all_inner_texts()
    assert applications == [f"{world.tenant.name} / Portal"], applications
    screenshot(page, "console-provider-pickers")

    # Registrations are titled "email → application" and pick the user by email.
    newcomer = UserFactory(tenant=world.tenant, email="bo@example.com")
    page.goto("/admin/identity/registration/")
    expect(page.locator("#result_list")).to_contain_text(f"{world.user.email} → Portal")
    page.goto("/admin/identity/registration/add/")
    page.locator(".field-user .select2-selection").click()
    page.locator(".select2-search__field").fill("bo@")
    expect(page.locator(".select2-results__option", has_text=newcomer.email)).to_be_visible()

    # A tenant's add form does not pre-fill another tenant's issuer.
    page.goto("/admin/identity/tenant/add/")
    assert page.input_value("input[name=issuer]") == ""
    assert page.foreign_requests == []
