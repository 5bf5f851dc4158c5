"""The operator's console (issue 19): sessions on the user page, key status, scoped pickers, unlock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.widgets import AutocompleteSelect
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity import admin as identity_admin
from identity import forms as identity_forms
from identity.models import (
    APIKey,
    Application,
    ExternalJWTProvider,
    RefreshToken,
    Registration,
    SigningKey,
    Tenant,
    User,
)
from identity.selectors import tenant_get_default
from identity.services.applications import RoleSpec, application_role_create
from identity.services.identity_providers import external_jwt_provider_create
from identity.services.signing_keys import tenant_signing_key_set
from tests.factories import ApplicationFactory, TenantFactory, UserFactory, make_signing_key
from tests.test_admin import Rows, counting, form_data, make_refresh_token, messages_of, rows, url
from tests.test_admin_services import state, verify_only_key

pytestmark = pytest.mark.django_db
__all__ = ["rows"]


def inline(response: Any, model: type) -> Any:
    return next(f for f in response.context["inline_admin_formsets"] if f.formset.model is model)


# --- registrations on the user page ----------------------------------------------------------------


def test_user_page_lists_registrations_with_role_checkboxes(admin_client: Client, rows: Rows) -> None:
    application_role_create(application=rows.application, spec=RoleSpec("auditor"))
    page = admin_client.get(url(User, "change", rows.user.pk))
    formset = inline(page, Registration).formset
    [form] = formset.forms
    assert form.fields["roles"].choices == [("admin", "admin"), ("auditor", "auditor")]
    assert form.initial["roles"] == ["admin"]
    assert form.fields["application"].disabled
    content = page.content.decode()
    assert 'type="checkbox" name="registrations-0-roles" value="auditor"' in content
    assert "Last login" in content or "last login" in content


def test_roles_change_on_the_user_page_goes_through_the_service(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    application_role_create(application=rows.application, spec=RoleSpec("auditor"))
    calls = counting(monkeypatch, identity_admin, "registration_update")
    page = admin_client.get(url(User, "change", rows.user.pk))
    data = form_data(page, **{"registrations-0-roles": ["auditor"]})
    assert admin_client.post(url(User, "change", rows.user.pk), data).status_code == 302
    assert len(calls) == 1
    rows.registration.refresh_from_db()
    assert rows.registration.roles == ["auditor"]


def test_registering_and_unregistering_on_the_user_page(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = counting(monkeypatch, identity_admin, "registration_create")
    deleted = counting(monkeypatch, identity_admin, "registration_delete")
    shop = ApplicationFactory(tenant=rows.tenant, name="Shop", roles=[RoleSpec("buyer", is_default=True)])
    page = admin_client.get(url(User, "change", rows.user.pk))
    data = form_data(
        page,
        **{
            "registrations-TOTAL_FORMS": "2",
            "registrations-0-DELETE": "on",
            "registrations-1-application": str(shop.pk),
        },
    )
    assert admin_client.post(url(User, "change", rows.user.pk), data).status_code == 302
    assert (len(created), len(deleted)) == (1, 1)
    assert list(Registration.objects.filter(user=rows.user).values_list("application__name", "roles")) == [
        ("Shop", ["buyer"])
    ]
    rows.refresh_token.refresh_from_db()
    assert rows.refresh_token.is_revoked()  # unregistering ends the Portal session


def test_the_user_page_offers_only_applications_of_the_users_tenant(admin_client: Client, rows: Rows) -> None:
    foreign = ApplicationFactory(tenant=TenantFactory(name="Globex"), name="Elsewhere")
    page = admin_client.get(url(User, "change", rows.user.pk))
    empty = inline(page, Registration).formset.empty_form
    offered = list(empty.fields["application"].queryset)
    assert rows.application in offered and foreign not in offered
    assert "Initech / Portal" in [str(label) for _, label in empty.fields["application"].choices]
    before = state()
    data = form_data(
        page, **{"registrations-TOTAL_FORMS": "2", "registrations-1-application": str(foreign.pk)}
    )
    response = admin_client.post(url(User, "change", rows.user.pk), data)
    assert response.status_code == 200
    assert state() == before


def test_registering_twice_on_the_user_page_is_the_services_refusal(admin_client: Client, rows: Rows) -> None:
    before = state()
    page = admin_client.get(url(User, "change", rows.user.pk))
    data = form_data(
        page, **{"registrations-TOTAL_FORMS": "2", "registrations-1-application": str(rows.application.pk)}
    )
    response = admin_client.post(url(User, "change", rows.user.pk), data)
    assert response.status_code == 200
    assert "The user is already registered for this application." in response.content.decode()
    assert state() == before


# --- live sessions on the user page ----------------------------------------------------------------


def test_user_page_lists_live_sessions_only(admin_client: Client, rows: Rows) -> None:
    live = rows.refresh_token
    RefreshToken.objects.filter(pk=live.pk).update(
        device_name="Ada's phone", last_accessed_address="192.0.2.7"
    )
    revoked = make_refresh_token(rows.user, rows.application)
    expired = make_refresh_token(rows.user, rows.application)
    RefreshToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    RefreshToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    page = admin_client.get(url(User, "change", rows.user.pk))
    assert [form.instance.pk for form in inline(page, RefreshToken).formset.forms] == [live.pk]
    content = page.content.decode()
    assert "Ada&#x27;s phone" in content and "192.0.2.7" in content
    assert (
        f'formaction="{url(RefreshToken, "revoke", live.pk)}?next={url(User, "change", rows.user.pk)}"'
        in content
    )
    assert "Sign out everywhere" in content


def _sessions_used(rows: Rows, count: int) -> list[RefreshToken]:
    """`count` more live sessions of the user, the last one the most recently used."""
    now = timezone.now()
    made = [make_refresh_token(rows.user, rows.application) for _ in range(count)]
    for minutes, token in enumerate(made):
        RefreshToken.objects.filter(pk=token.pk).update(last_used_at=now + timedelta(minutes=minutes + 1))
    return made


def test_the_user_page_lists_the_most_recent_sessions_and_links_to_the_rest(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant may allow 100,000 sessions per user: the page lists the most recently used few."""
    monkeypatch.setattr(identity_admin, "USER_PAGE_SESSIONS", 3)
    made = _sessions_used(rows, 4)  # five live sessions with the fixture's own
    other = make_refresh_token(UserFactory(tenant=rows.tenant), rows.application)
    page = admin_client.get(url(User, "change", rows.user.pk))
    listed = [form.instance.pk for form in inline(page, RefreshToken).formset.forms]
    assert listed == [t.pk for t in reversed(made[1:])]
    content = page.content.decode()
    link = f"{url(RefreshToken, 'changelist')}?user__id__exact={rows.user.pk}"
    assert "2 more live sessions not listed here" in content and f'href="{link}"' in content
    everything = admin_client.get(link).context["cl"].result_list
    assert {t.pk for t in everything} == {rows.refresh_token.pk, *(t.pk for t in made)}
    assert other.pk not in {t.pk for t in everything}

    # Saving the user's page with sessions it did not list changes none of them.
    before = list(RefreshToken.objects.order_by("pk").values_list("pk", "revoked_at", "last_used_at"))
    response = admin_client.post(url(User, "change", rows.user.pk), form_data(page, first_name="Ada"))
    assert response.status_code == 302
    assert User.objects.get(pk=rows.user.pk).first_name == "Ada"
    assert list(RefreshToken.objects.order_by("pk").values_list("pk", "revoked_at", "last_used_at")) == before


def test_a_user_page_listing_every_session_counts_nothing_more(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity_admin, "USER_PAGE_SESSIONS", 3)
    _sessions_used(rows, 1)
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(url(User, "change", rows.user.pk))
    assert len(inline(page, RefreshToken).formset.forms) == 2
    assert "unlisted-sessions" not in page.content.decode()
    table = RefreshToken._meta.db_table
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"] and table in q["sql"]]


def test_revoke_this_session_returns_to_the_user_page(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_refresh_token(rows.user, rows.application)
    calls = counting(monkeypatch, identity_admin, "refresh_tokens_revoke")
    user_page = url(User, "change", rows.user.pk)
    response = admin_client.post(f"{url(RefreshToken, 'revoke', rows.refresh_token.pk)}?next={user_page}")
    assert response.status_code == 302 and response.url == user_page
    assert len(calls) == 1
    rows.refresh_token.refresh_from_db()
    other.refresh_from_db()
    assert rows.refresh_token.revoke_reason == "admin" and not other.is_revoked()


def test_revoke_ignores_a_foreign_next(admin_client: Client, rows: Rows) -> None:
    response = admin_client.post(
        f"{url(RefreshToken, 'revoke', rows.refresh_token.pk)}?next=https://evil.test/"
    )
    assert response.url == url(RefreshToken, "change", rows.refresh_token.pk)


def test_sign_out_everywhere(admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch) -> None:
    second = make_refresh_token(rows.user, ApplicationFactory(tenant=rows.tenant, name="Shop"))
    spared = make_refresh_token(UserFactory(tenant=rows.tenant), rows.application)
    calls = counting(monkeypatch, identity_admin, "refresh_tokens_revoke")
    target = url(User, "sign_out_everywhere", rows.user.pk)
    assert admin_client.get(target).status_code == 403
    response = admin_client.post(target, follow=True)
    assert response.redirect_chain == [(url(User, "change", rows.user.pk), 302)]
    assert messages_of(response) == ["Revoked 2 refresh tokens."]
    assert len(calls) == 1
    assert {t.pk for t in RefreshToken.objects.exclude(revoked_at=None)} == {rows.refresh_token.pk, second.pk}
    spared.refresh_from_db()
    assert not spared.is_revoked()


# --- unlock ------------------------------------------------------------------------------------------


def _lock(user: User) -> None:
    User.objects.filter(pk=user.pk).update(
        locked_until=timezone.now() + timedelta(hours=1), failed_login_count=5
    )


def test_unlock_from_the_user_page(admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "/unlock/" not in admin_client.get(url(User, "change", rows.user.pk)).content.decode()
    _lock(rows.user)
    assert (
        url(User, "unlock", rows.user.pk)
        in admin_client.get(url(User, "change", rows.user.pk)).content.decode()
    )
    calls = counting(monkeypatch, identity_admin, "user_unlock")
    response = admin_client.post(url(User, "unlock", rows.user.pk), follow=True)
    assert messages_of(response) == ["ada@acme.test is unlocked and may log in again."]
    assert len(calls) == 1
    rows.user.refresh_from_db()
    assert (rows.user.locked_until, rows.user.failed_login_count) == (None, 0)


def test_unlock_action_and_locked_column(admin_client: Client, rows: Rows) -> None:
    _lock(rows.user)
    listing = admin_client.get(url(User, "changelist"), {"q": "ada"})
    assert "icon-yes.svg" in listing.content.decode()  # the locked column
    response = admin_client.post(
        url(User, "changelist"), {"action": "unlock_selected", "_selected_action": [str(rows.user.pk)]}
    )
    assert response.status_code == 302
    assert messages_of(response) == ["Unlocked ada@acme.test."]
    rows.user.refresh_from_db()
    assert not rows.user.is_locked(timezone.now())
    again = admin_client.post(
        url(User, "changelist"), {"action": "unlock_selected", "_selected_action": [str(rows.user.pk)]}
    )
    assert messages_of(again)[-1] == "None of the selected users was locked."  # not "Unlocked 1 user(s)"


def test_unlock_needs_a_post(admin_client: Client, rows: Rows) -> None:
    _lock(rows.user)
    assert admin_client.get(url(User, "unlock", rows.user.pk)).status_code == 403
    rows.user.refresh_from_db()
    assert rows.user.is_locked(timezone.now())


# --- users of other tenants, lists, index ------------------------------------------------------------


def test_no_console_permissions_for_users_of_other_tenants(admin_client: Client, rows: Rows) -> None:
    fields = admin_client.get(url(User, "change", rows.user.pk)).context["adminform"].form.fields
    assert not {"groups", "user_permissions", "is_staff", "is_superuser"} & set(fields)
    staff = UserFactory(tenant=tenant_get_default(), email="ops@example.com")
    fields = admin_client.get(url(User, "change", staff.pk)).context["adminform"].form.fields
    assert {"groups", "user_permissions", "is_staff"} <= set(fields)


def test_saving_another_tenants_user_keeps_their_flags(admin_client: Client, rows: Rows) -> None:
    page = admin_client.get(url(User, "change", rows.user.pk))
    assert (
        admin_client.post(url(User, "change", rows.user.pk), form_data(page, first_name="A")).status_code
        == 302
    )
    rows.user.refresh_from_db()
    assert (rows.user.first_name, rows.user.is_staff) == ("A", False)


@pytest.mark.parametrize(
    "model", [Tenant, Application, User, Registration, RefreshToken, SigningKey, APIKey, ExternalJWTProvider]
)
def test_lists_show_ids(admin_client: Client, rows: Rows, model: type) -> None:
    external_jwt_provider_create(
        tenant=rows.tenant,
        name="Partner",
        keys=[verify_only_key(rows.tenant, "p")],
        applications=[],
    )
    response = admin_client.get(url(model, "changelist"))
    objects = list(response.context["cl"].result_list)
    assert objects and all(str(obj.pk) in response.content.decode() for obj in objects)


def test_user_list_shows_last_login(admin_client: Client, rows: Rows) -> None:
    User.objects.filter(pk=rows.user.pk).update(last_login=timezone.now())
    response = admin_client.get(url(User, "changelist"))
    assert "last_login" in response.context["cl"].list_display
    assert "column-last_login" in response.content.decode()


def test_no_view_site_link(admin_client: Client) -> None:
    content = admin_client.get("/admin/").content.decode()
    assert "View site" not in content


def test_new_tenant_issuer_is_not_prefilled(admin_client: Client, default_tenant: Tenant) -> None:
    add = admin_client.get(url(Tenant, "add"))
    assert add.context["adminform"].form["issuer"].value() in ("", None)
    assert f'value="{default_tenant.issuer}"' not in add.content.decode()
    response = admin_client.post(url(Tenant, "add"), form_data(add, name="Globex"))
    assert response.status_code == 302
    tenant = Tenant.objects.get(name="Globex")
    assert tenant.issuer == f"urn:uuid:{tenant.pk}"


def test_new_tenant_with_a_taken_issuer_is_refused(admin_client: Client, default_tenant: Tenant) -> None:
    before = state()
    add = admin_client.get(url(Tenant, "add"))
    response = admin_client.post(
        url(Tenant, "add"), form_data(add, name="Globex", issuer=default_tenant.issuer)
    )
    assert response.context["adminform"].form.errors["issuer"] == ["Another tenant has this issuer."]
    assert state() == before


# --- pickers ------------------------------------------------------------------------------------------


def test_provider_key_picker_is_scoped(admin_client: Client, rows: Rows) -> None:
    own_public = verify_only_key(rows.tenant, "own public")
    global_public = verify_only_key(None, "global public")
    foreign_public = verify_only_key(TenantFactory(name="Globex"), "foreign public")
    foreign_private = make_signing_key(
        "ES256", tenant=Tenant.objects.get(name="Globex"), name="foreign private"
    )
    hmac = make_signing_key("HS256", tenant=rows.tenant, name="own hmac")
    global_private = make_signing_key("ES256", name="global private")
    provider = external_jwt_provider_create(
        tenant=rows.tenant, name="Partner", keys=[own_public], applications=[]
    )

    change = admin_client.get(url(ExternalJWTProvider, "change", provider.pk)).context["adminform"].form
    offered = set(change.fields["verification_keys"].queryset)
    assert {own_public, global_public, rows.signing_key} <= offered
    assert not {foreign_public, foreign_private, hmac, global_private} & offered
    add = admin_client.get(url(ExternalJWTProvider, "add")).context["adminform"].form
    offered = set(add.fields["verification_keys"].queryset)
    assert {own_public, global_public, foreign_public} <= offered
    assert not {foreign_private, hmac, global_private, rows.signing_key} & offered
    labels = [label for _, label in add.fields["verification_keys"].choices]
    assert any("Globex" in str(label) for label in labels)


def test_application_pickers_show_the_tenant(admin_client: Client, rows: Rows) -> None:
    add = admin_client.get(url(ExternalJWTProvider, "add")).context["adminform"].form
    assert "Initech / Portal" in [str(label) for _, label in add.fields["applications"].choices]
    add = admin_client.get(url(Registration, "add")).context["adminform"].form
    assert "Initech / Portal" in [str(label) for _, label in add.fields["application"].choices]


def test_registrations_pick_the_user_by_email_and_are_titled_email_to_application(
    admin_client: Client, rows: Rows
) -> None:
    add = admin_client.get(url(Registration, "add"))
    assert isinstance(add.context["adminform"].form.fields["user"].widget.widget, AutocompleteSelect)
    found = admin_client.get(
        "/admin/autocomplete/",
        {"term": "ada@", "app_label": "identity", "model_name": "registration", "field_name": "user"},
    ).json()
    assert [result["text"] for result in found["results"]] == ["ada@acme.test"]
    change = admin_client.get(url(Registration, "change", rows.registration.pk)).content.decode()
    assert "ada@acme.test → Portal" in change


def test_refresh_tokens_are_searchable_by_user_id(admin_client: Client, rows: Rows) -> None:
    make_refresh_token(UserFactory(tenant=rows.tenant), rows.application)
    response = admin_client.get(url(RefreshToken, "changelist"), {"q": str(rows.user.pk)})
    assert list(response.context["cl"].result_list) == [rows.refresh_token]


# --- key status --------------------------------------------------------------------------------------


def test_key_status_in_the_list(admin_client: Client, rows: Rows) -> None:
    signer = rows.tenant.access_token_signing_key
    assert signer is not None
    make_signing_key("ES256", tenant=rows.tenant, name="spare")
    expired = make_signing_key("ES256", tenant=rows.tenant, name="old")
    SigningKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    tenant_signing_key_set(tenant=rows.tenant, key=rows.signing_key)  # the previous signer verifies only
    response = admin_client.get(url(SigningKey, "changelist"), {"tenant__id__exact": rows.tenant.pk})
    model_admin = response.context["cl"].model_admin
    status = {key.name: model_admin.status(key) for key in response.context["cl"].result_list}
    assert status["acme signer"] == "signs now for tenant Initech"
    assert status[signer.name].startswith("verifies only, for tenant Initech until ")
    assert status["spare"] == "unused"
    assert status["old"] == "expired"
    assert "signs now for tenant Initech" in response.content.decode()


def test_make_it_the_signing_key(admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch) -> None:
    previous = rows.tenant.access_token_signing_key
    calls = counting(monkeypatch, identity_admin, "tenant_signing_key_set")
    response = admin_client.post(
        url(SigningKey, "changelist"),
        {"action": "make_signing_key", "_selected_action": [str(rows.signing_key.pk)]},
        follow=True,
    )
    assert messages_of(response) == [
        f"Initech now signs with kid {rows.signing_key.kid}; the previous key still verifies."
    ]
    assert len(calls) == 1
    rows.tenant.refresh_from_db()
    assert rows.tenant.access_token_signing_key == rows.signing_key
    assert previous in rows.tenant.verification_keys.all()


def test_a_verify_only_key_cannot_be_made_the_signing_key(admin_client: Client, rows: Rows) -> None:
    public = verify_only_key(rows.tenant, "public")
    before = state()
    signer = rows.tenant.access_token_signing_key
    response = admin_client.post(
        url(SigningKey, "changelist"),
        {"action": "make_signing_key", "_selected_action": [str(public.pk)]},
        follow=True,
    )
    assert messages_of(response) == [
        "public: access_token_signing_key: The key must be a signing key with private material.; "
        "id_token_signing_key: The key must be a signing key with private material."
    ]
    rows.tenant.refresh_from_db()
    assert rows.tenant.access_token_signing_key == signer
    assert state() == before


def test_the_index_warns_about_keys_in_use_nearing_expiry(admin_client: Client, rows: Rows) -> None:
    signer = rows.tenant.access_token_signing_key
    assert signer is not None
    spare = make_signing_key("ES256", tenant=rows.tenant, name="spare")
    SigningKey.objects.filter(pk__in=[signer.pk, spare.pk]).update(
        expires_at=timezone.now() + timedelta(days=3)
    )
    content = admin_client.get("/admin/").content.decode()
    assert 'id="expiring-keys"' in content
    assert signer.name in content and signer.kid in content
    assert "spare" not in content  # unused: nothing breaks when it expires
    SigningKey.objects.filter(pk=signer.pk).update(expires_at=timezone.now() + timedelta(days=30))
    assert 'id="expiring-keys"' not in admin_client.get("/admin/").content.decode()


# --- importing a public key or certificate -----------------------------------------------------------


def test_import_a_public_key(admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch) -> None:
    listing = admin_client.get(url(SigningKey, "changelist")).content.decode()
    assert url(SigningKey, "import") in listing
    pem = make_signing_key("ES256", name="partner source").public_key
    calls = counting(monkeypatch, identity_forms, "signing_key_import")
    response = admin_client.post(
        url(SigningKey, "import"),
        {"tenant": str(rows.tenant.pk), "name": "partner", "public_key": pem, "kid": "p1"},
    )
    key = SigningKey.objects.get(kid="p1")
    assert response.status_code == 302 and response.url == url(SigningKey, "change", key.pk)
    assert len(calls) == 1
    assert (key.use, key.tenant, key.has_private_key, key.algorithm) == (
        "VerifyOnly",
        rows.tenant,
        False,
        "ES256",
    )


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"public_key": ""}, None, "Paste a public key or a certificate."),
        ({"public_key": "not a pem"}, "public_key", "Expected a PEM block."),
        ({"algorithm": "RS256"}, "algorithm", "The key is not a RS256 key."),
        ({"kid": "has space"}, "kid", "A kid is 1 to 64 characters of A-Z a-z 0-9 _ -."),
        ({"kid": "taken"}, "kid", "Another key already has this kid."),
        ({"name": "  "}, "name", "This field is required."),
    ],
    ids=repr,
)
def test_import_refusals_are_form_errors(
    admin_client: Client, rows: Rows, values: dict[str, str], field: str | None, message: str
) -> None:
    pem = make_signing_key("ES256", name="partner source").public_key
    verify_only_key(None, "taken")
    before = state()
    data = {"tenant": "", "name": "partner", "public_key": pem, "kid": "", **values}
    response = admin_client.post(url(SigningKey, "import"), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert message in (form.errors[field] if field else form.non_field_errors())
    assert state() == before
