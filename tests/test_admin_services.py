"""The admin is a client of the services: every save calls its service once, the forms refuse what
the services (and so the API) refuse with the same words, and nothing is written when they do."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from identity import admin as identity_admin
from identity import forms as identity_forms
from identity.exceptions import ValidationFailed
from identity.models import APIKey, ExternalJWTProvider, RefreshToken, Registration, SigningKey, Tenant, User
from identity.services.identity_providers import external_jwt_provider_create
from identity.services.refresh_tokens import RevokeReason
from identity.services.signing_keys import signing_key_import
from tests.api.helpers import db_state
from tests.factories import (
    ApplicationFactory,
    RegistrationFactory,
    TenantFactory,
    UserFactory,
    make_api_key,
    make_signing_key,
)
from tests.test_admin import NEW_PASSWORD, Rows, counting, form_data, rows, url

pytestmark = pytest.mark.django_db
__all__ = ["rows"]  # the fixture, imported for its side of pytest's lookup


def state() -> dict[str, Any]:
    """db_state plus what the admin pages here can write besides."""
    return {
        **db_state(),
        "providers": sorted(ExternalJWTProvider.objects.values_list("id", "name", "claim_map")),
        "users": sorted(User.objects.values_list("id", "email", "username", "password")),
        "registrations": sorted(Registration.objects.values_list("id", "roles")),
        "keys": sorted(SigningKey.objects.values_list("id", "name")),
    }


@pytest.fixture
def manager_key(rows: Rows) -> str:
    return make_api_key(name="manager", key_manager=True)[1]


def api(client: APIClient, method: str, path: str, key: str, body: Any, tenant: Tenant | None = None) -> Any:
    headers = {"HTTP_X_FUSIONAUTH_TENANTID": str(tenant.pk)} if tenant else {}
    return getattr(client, method)(path, body, format="json", HTTP_AUTHORIZATION=key, **headers)


def field_errors(response: Any) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["adminform"].form.errors.items()}


def api_messages(response: Any, path: str) -> list[str]:
    assert response.status_code == 400, response.content
    return [item["message"] for item in response.json()["fieldErrors"][path]]


# --- each save calls its service once --------------------------------------------------------------


def verify_only_key(tenant: Tenant | None, name: str) -> SigningKey:
    """An imported public key (verify-only), as a partner's key is: what the provider pickers offer."""
    public_pem = make_signing_key("ES256", name=f"{name} source").public_key
    return signing_key_import(tenant=tenant, name=name, public_key=public_pem, kid=name.replace(" ", "-"))


def _provider(rows: Rows) -> ExternalJWTProvider:
    return external_jwt_provider_create(
        tenant=rows.tenant,
        name="Partner",
        keys=[verify_only_key(rows.tenant, "partner key")],
        applications=[rows.application],
    )


# (service patched in identity.forms, page, the form's values or None for a change page's own)
SAVES: list[tuple[str, Callable[[Rows], str], Callable[[Rows], dict[str, Any]]]] = [
    ("tenant_create", lambda r: url(Tenant, "add"), lambda r: {"name": "Globex", "issuer": "globex.test"}),
    ("tenant_update", lambda r: url(Tenant, "change", r.tenant.pk), lambda r: {"name": "Initech 2"}),
    (
        "user_create",
        lambda r: url(User, "add"),
        lambda r: {
            "tenant": str(r.tenant.pk),
            "email": "grace@acme.test",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    ),
    ("user_console_update", lambda r: url(User, "change", r.user.pk), lambda r: {"first_name": "Augusta"}),
    (
        "registration_create",
        lambda r: url(Registration, "add"),
        lambda r: {
            "user": str(UserFactory(tenant=r.tenant, email="bob@acme.test").pk),
            "application": str(r.application.pk),
        },
    ),
    (
        "registration_update",
        lambda r: url(Registration, "change", r.registration.pk),
        lambda r: {"roles": "ADMIN"},
    ),
    ("api_key_create", lambda r: url(APIKey, "add"), lambda r: {"name": "deploy"}),
    (
        "signing_key_generate",
        lambda r: url(SigningKey, "add"),
        lambda r: {"name": "new", "algorithm": "ES256"},
    ),
    (
        "signing_key_rename",
        lambda r: url(SigningKey, "change", r.signing_key.pk),
        lambda r: {"name": "renamed"},
    ),
    (
        "external_jwt_provider_create",
        lambda r: url(ExternalJWTProvider, "add"),
        lambda r: {
            "tenant": str(r.tenant.pk),
            "name": "Partner",
            "verification_keys": [str(verify_only_key(r.tenant, "partner key").pk)],
            "applications": [str(r.application.pk)],
            "claim_map": "{}",
            "unique_identity_claim": "email",
        },
    ),
    (
        "external_jwt_provider_update",
        lambda r: url(ExternalJWTProvider, "change", _provider(r).pk),
        lambda r: {"name": "Partner 2", "applications": []},
    ),
]


@pytest.mark.parametrize(("service", "page", "values"), SAVES, ids=[s for s, _, _ in SAVES])
def test_each_save_calls_its_service_once(
    admin_client: Client,
    rows: Rows,
    monkeypatch: pytest.MonkeyPatch,
    service: str,
    page: Callable[[Rows], str],
    values: Callable[[Rows], dict[str, Any]],
) -> None:
    calls = counting(monkeypatch, identity_forms, service)
    target = page(rows)
    response = admin_client.post(target, form_data(admin_client.get(target), **values(rows)))
    assert response.status_code in (200, 302)  # 200: the shown-once page of a new key
    assert "adminform" not in (response.context or {}), field_errors(response)
    assert len(calls) == 1


def test_provider_relations_are_written_by_the_service_only(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form's save_m2m would set the keys and applications again, around the service."""
    provider = _provider(rows)
    other = ApplicationFactory(tenant=rows.tenant, name="Shop")
    page = admin_client.get(url(ExternalJWTProvider, "change", provider.pk))
    data = form_data(page, applications=[str(other.pk)])
    with monkeypatch.context() as patched:
        patched.setattr(identity_forms, "external_jwt_provider_update", lambda provider, **_: provider)
        assert admin_client.post(url(ExternalJWTProvider, "change", provider.pk), data).status_code == 302
    assert list(provider.applications.all()) == [rows.application]  # the (stubbed) service wrote nothing
    assert admin_client.post(url(ExternalJWTProvider, "change", provider.pk), data).status_code == 302
    assert list(provider.applications.all()) == [other]


def test_console_permissions_go_through_the_user_service(
    admin_client: Client, default_tenant: Tenant
) -> None:
    staff = UserFactory(tenant=default_tenant, email="ops@example.com", is_staff=True)
    group = Group.objects.create(name="operators")
    page = admin_client.get(url(User, "change", staff.pk))
    response = admin_client.post(url(User, "change", staff.pk), form_data(page, groups=[str(group.pk)]))
    assert response.status_code == 302
    assert list(staff.groups.all()) == [group]


# --- the API's refusals are the admin's refusals ---------------------------------------------------


@pytest.fixture
def refused_in_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin's services fail the test if called: a refusal must come from the form's clean()
    (the validators), not from a service call rolled back afterwards."""

    def must_not_be_called(**kwargs: Any) -> Any:
        raise AssertionError("the form called its service with values the validators refuse")

    for service, _, _ in SAVES:
        monkeypatch.setattr(identity_forms, service, must_not_be_called)


KELVIN = "\u212a"  # KELVIN SIGN: folds to "k", a look-alike of an ASCII letter


@pytest.mark.parametrize(
    ("values", "field", "path"),
    [
        ({"email": "ADA@acme.test"}, "email", "user.email"),
        ({"email": f"{KELVIN}ate@acme.test"}, "email", "user.email"),
        ({"email": "kate@acme.\uff54est"}, "email", "user.email"),  # full-width t in the domain
        ({"username": "ADA"}, "username", "user.username"),
        ({"username": "\uff41da"}, "username", "user.username"),  # full-width a
        ({"password": "short"}, "password2", "user.password"),
        ({"password": "ada@acme.test"}, "password2", "user.password"),
    ],
    ids=repr,
)
def test_user_creation_refusals(
    admin_client: Client,
    api_client: APIClient,
    rows: Rows,
    manager_key: str,
    values: dict[str, str],
    field: str,
    path: str,
    refused_in_clean: None,
) -> None:
    wanted = {"email": "kate@acme.test", "username": "", "password": NEW_PASSWORD, **values}
    before = state()
    body = {"user": {key: value for key, value in wanted.items() if value}}
    refused_by_api = api_messages(api(api_client, "post", "/api/user", manager_key, body, rows.tenant), path)
    assert state() == before
    add = admin_client.get(url(User, "add"))
    password = wanted.pop("password")
    response = admin_client.post(
        url(User, "add"),
        form_data(add, tenant=str(rows.tenant.pk), password1=password, password2=password, **wanted),
    )
    assert response.status_code == 200
    assert field_errors(response)[field] == refused_by_api
    assert state() == before


@pytest.mark.parametrize(
    ("values", "field", "path"),
    [
        ({"email": "bob@acme.test"}, "email", "user.email"),
        ({"username": "BOB"}, "username", "user.username"),
        ({"username": f"{KELVIN}ada"}, "username", "user.username"),
    ],
    ids=repr,
)
def test_user_change_refusals(
    admin_client: Client,
    api_client: APIClient,
    rows: Rows,
    manager_key: str,
    values: dict[str, str],
    field: str,
    path: str,
    refused_in_clean: None,
) -> None:
    UserFactory(tenant=rows.tenant, email="bob@acme.test", username="bob")
    before = state()
    page = admin_client.get(url(User, "change", rows.user.pk))
    response = admin_client.post(url(User, "change", rows.user.pk), form_data(page, **values))
    assert response.status_code == 200
    body = {"user": {"email": rows.user.email, **values}}
    answer = api(api_client, "patch", f"/api/user/{rows.user.pk}", manager_key, body)
    assert field_errors(response)[field] == api_messages(answer, path)
    assert state() == before


def test_a_user_keeps_their_own_address_in_another_case(admin_client: Client, rows: Rows) -> None:
    page = admin_client.get(url(User, "change", rows.user.pk))
    response = admin_client.post(url(User, "change", rows.user.pk), form_data(page, email="ada@ACME.test"))
    assert response.status_code == 302
    rows.user.refresh_from_db()
    assert rows.user.email == "ada@ACME.test"


def test_registration_refusals(
    admin_client: Client, api_client: APIClient, rows: Rows, manager_key: str, refused_in_clean: None
) -> None:
    before = state()
    registration = rows.registration
    answer = api(
        api_client,
        "put",
        f"/api/user/registration/{rows.user.pk}/{rows.application.pk}",
        manager_key,
        {"registration": {"roles": ["admin", "ghost"]}},
    )
    page = admin_client.get(url(Registration, "change", registration.pk))
    response = admin_client.post(
        url(Registration, "change", registration.pk), form_data(page, roles="admin, ghost")
    )
    assert field_errors(response)["roles"] == api_messages(answer, "registration.roles")

    answer = api(
        api_client,
        "post",
        f"/api/user/registration/{rows.user.pk}",
        manager_key,
        {"registration": {"applicationId": str(rows.application.pk)}},
    )
    add = admin_client.get(url(Registration, "add"))
    response = admin_client.post(
        url(Registration, "add"),
        form_data(add, user=str(rows.user.pk), application=str(rows.application.pk)),
    )
    assert field_errors(response)["application"] == api_messages(answer, "registration.applicationId")
    assert state() == before


def test_registration_of_another_tenants_user_is_refused(
    admin_client: Client, rows: Rows, refused_in_clean: None
) -> None:
    stranger = UserFactory(email="stranger@example.com")  # default tenant
    before = state()
    add = admin_client.get(url(Registration, "add"))
    response = admin_client.post(
        url(Registration, "add"), form_data(add, user=str(stranger.pk), application=str(rows.application.pk))
    )
    assert field_errors(response)["application"] == ["The application belongs to another tenant."]
    assert state() == before


@pytest.mark.parametrize(
    "permissions",
    [{"/x": ["GET"]}, {"/api/user": []}, {"/api/user": ["FETCH"]}, ["GET"], {"/api/ user": ["GET"]}],
    ids=repr,
)
def test_api_key_permission_refusals(
    admin_client: Client,
    api_client: APIClient,
    rows: Rows,
    manager_key: str,
    permissions: Any,
    refused_in_clean: None,
) -> None:
    before = state()
    answer = api(
        api_client,
        "post",
        "/api/api-key",
        manager_key,
        {"apiKey": {"permissions": {"endpoints": permissions}}},
    )
    refused_by_api = api_messages(answer, "apiKey.permissions.endpoints")
    add = admin_client.get(url(APIKey, "add"))
    response = admin_client.post(url(APIKey, "add"), form_data(add, permissions=json.dumps(permissions)))
    assert field_errors(response)["permissions"] == refused_by_api
    assert state() == before


def test_api_key_expiry_in_the_past_is_refused(
    admin_client: Client, api_client: APIClient, rows: Rows, manager_key: str, refused_in_clean: None
) -> None:
    past = timezone.now() - timedelta(days=1)
    before = state()
    answer = api(
        api_client,
        "post",
        "/api/api-key",
        manager_key,
        {"apiKey": {"expirationInstant": int(past.timestamp() * 1000)}},
    )
    add = admin_client.get(url(APIKey, "add"))
    response = admin_client.post(
        url(APIKey, "add"),
        form_data(add, expires_at_0=past.strftime("%Y-%m-%d"), expires_at_1=past.strftime("%H:%M:%S")),
    )
    assert field_errors(response)["expires_at"] == api_messages(answer, "apiKey.expirationInstant")
    assert state() == before


@pytest.mark.parametrize(
    ("algorithm", "length"),
    [("HS256", 16), ("HS512", 32), ("HS256", 513), ("RS256", 1024), ("RS256", 5000)],
)
def test_signing_key_generation_refusals(
    admin_client: Client,
    api_client: APIClient,
    rows: Rows,
    algorithm: str,
    length: int,
    refused_in_clean: None,
) -> None:
    global_key = make_api_key(name="global")[1]
    before = state()
    answer = api(
        api_client,
        "post",
        "/api/key/generate",
        global_key,
        {"key": {"name": "bad", "algorithm": algorithm, "length": length}},
    )
    assert state() == before
    add = admin_client.get(url(SigningKey, "add"))
    response = admin_client.post(
        url(SigningKey, "add"), form_data(add, name="bad", algorithm=algorithm, length=str(length))
    )
    assert field_errors(response)["length"] == api_messages(answer, "key.length")
    assert state() == before


PROVIDER_REFUSALS: list[tuple[str, Callable[[Rows], dict[str, Any]], str]] = [
    ("name", lambda r: {"name": "PARTNER"}, "identityProvider.name"),
    (
        "verification_keys",
        lambda r: {"keys": [verify_only_key(TenantFactory(name="Other"), "foreign key")]},
        "identityProvider.keys",
    ),
    ("verification_keys", lambda r: {"keys": []}, "identityProvider.keys"),
    (
        "applications",
        lambda r: {"applications": [ApplicationFactory(tenant=TenantFactory(name="Other"))]},
        "identityProvider.applicationIds",
    ),
    ("claim_map", lambda r: {"claim_map": {"role": "is_staff"}}, "identityProvider.claimMap"),
]


@pytest.mark.parametrize(
    ("field", "bad", "path"),
    PROVIDER_REFUSALS,
    ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(PROVIDER_REFUSALS)],
)
def test_provider_refusals(
    admin_client: Client,
    rows: Rows,
    field: str,
    bad: Callable[[Rows], dict[str, Any]],
    path: str,
    refused_in_clean: None,
) -> None:
    """There is no provider API; the service's refusal (what /api would answer) is the admin's."""
    _provider(rows)
    values = {
        "tenant": rows.tenant,
        "name": "Second",
        "keys": [verify_only_key(rows.tenant, "second key")],
        "applications": [rows.application],
        "claim_map": {},
        **bad(rows),
    }
    before = state()
    with pytest.raises(ValidationFailed) as refused:
        external_jwt_provider_create(**values)
    add = admin_client.get(url(ExternalJWTProvider, "add"))
    response = admin_client.post(
        url(ExternalJWTProvider, "add"),
        form_data(
            add,
            tenant=str(rows.tenant.pk),
            name=values["name"],
            verification_keys=[str(key.pk) for key in values["keys"]],
            applications=[str(app.pk) for app in values["applications"]],
            claim_map=json.dumps(values["claim_map"]),
            unique_identity_claim="email",
        ),
    )
    errors = field_errors(response)
    if values["keys"]:
        assert errors[field] == [item.message for item in refused.value.field_errors[path]]
    else:
        assert errors[field] == ["This field is required."]  # Django's own check comes first
    assert state() == before


def test_registration_update_keeps_the_applications_spelling(admin_client: Client, rows: Rows) -> None:
    registration = RegistrationFactory(user=UserFactory(tenant=rows.tenant), application=rows.application)
    page = admin_client.get(url(Registration, "change", registration.pk))
    assert (
        admin_client.post(
            url(Registration, "change", registration.pk), form_data(page, roles=" ADMIN ")
        ).status_code
        == 302
    )
    registration.refresh_from_db()
    assert registration.roles == ["admin"]


# --- refresh tokens: revoked through the service, never deleted -------------------------------------


def test_a_token_page_revokes_through_the_service(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = rows.refresh_token
    page = admin_client.get(url(RefreshToken, "change", token.pk)).content.decode()
    revoke = url(RefreshToken, "revoke", token.pk)
    assert f'action="{revoke}"' in page
    assert "never deleted" in page
    calls = counting(monkeypatch, identity_admin, "refresh_tokens_revoke")
    assert admin_client.get(revoke).status_code == 405
    assert calls == []
    response = admin_client.post(revoke, follow=True)
    assert response.redirect_chain == [(url(RefreshToken, "change", token.pk), 302)]
    assert [str(m) for m in response.context["messages"]] == ["Revoked 1 refresh token."]
    assert calls == [{"token_ids": [str(token.pk)], "reason": RevokeReason.ADMIN}]
    token.refresh_from_db()
    assert token.revoke_reason == "admin"
    assert f'action="{revoke}"' not in response.content.decode()  # nothing left to revoke


def test_refresh_tokens_cannot_be_deleted(admin_client: Client, rows: Rows) -> None:
    token = rows.refresh_token
    before = state()
    assert admin_client.post(url(RefreshToken, "delete", token.pk), {"post": "yes"}).status_code == 403
    listing = admin_client.get(url(RefreshToken, "changelist"))
    assert "delete_selected" not in listing.context["action_form"].fields["action"].choices.__str__()
    response = admin_client.post(
        url(RefreshToken, "changelist"),
        {"action": "delete_selected", "_selected_action": [str(token.pk)], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert state() == before
    page = listing.content.decode()
    assert "revoked, never deleted" in page
    assert "never deleted" not in page.split("</title>")[0]  # said on the page, not in its title


def test_the_revoke_page_needs_the_revoke_permission(client: Client, rows: Rows) -> None:
    viewer = UserFactory(email="viewer@example.com", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_refreshtoken"))
    client.force_login(viewer)
    token = rows.refresh_token
    assert 'value="Revoke"' not in client.get(url(RefreshToken, "change", token.pk)).content.decode()
    assert client.post(url(RefreshToken, "revoke", token.pk)).status_code == 403
    token.refresh_from_db()
    assert not token.is_revoked()


def test_deleting_a_user_takes_their_tokens(admin_client: Client, rows: Rows) -> None:
    response = admin_client.post(url(User, "delete", rows.user.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not RefreshToken.objects.filter(pk=rows.refresh_token.pk).exists()


UNFIT_DATA = [
    ("[1, 2]", "Must be a JSON object."),
    ('"just a string"', "Must be a JSON object."),
    ('{"a": "\\u0000"}', "A value holds a NUL character or an unpaired surrogate."),
    ('{"a": NaN}', "A number is out of range (NaN or infinite)."),
    ('{"a": 1e999}', "A number is out of range (NaN or infinite)."),
    ('{"a": ' + "[" * 70 + "1" + "]" * 70 + "}", "Must nest at most 64 levels deep."),
]


@pytest.mark.parametrize(("text", "message"), UNFIT_DATA, ids=[u[0][:20] for u in UNFIT_DATA])
def test_user_and_registration_data_the_api_refuses_the_console_refuses(
    admin_client: Client, rows: Rows, text: str, message: str, refused_in_clean: None
) -> None:
    """Data that is not a storable JSON object was saved by the console (a list, NUL, NaN) and
    then made that user's every login and user API answer a 500, or the save itself one."""
    before = state()
    page = admin_client.get(url(User, "change", rows.user.pk))
    response = admin_client.post(url(User, "change", rows.user.pk), form_data(page, data=text))
    assert response.status_code == 200
    assert field_errors(response)["data"] == [message]
    page = admin_client.get(url(Registration, "change", rows.registration.pk))
    response = admin_client.post(
        url(Registration, "change", rows.registration.pk), form_data(page, data=text)
    )
    assert response.status_code == 200
    assert field_errors(response)["data"] == [message]
    assert state() == before


@pytest.mark.parametrize("value", [[1, 2], "text", {"a": "\x00"}, {"a": float("nan")}])
def test_the_services_refuse_unfit_data_whoever_calls(rows: Rows, value: Any) -> None:
    from identity.services.registrations import registration_update
    from identity.services.users import user_update

    before = state()
    with pytest.raises(ValidationFailed) as info:
        user_update(user=rows.user, data=value)
    assert "user.data" in info.value.field_errors
    with pytest.raises(ValidationFailed) as info:
        registration_update(registration=rows.registration, data=value)
    assert "registration.data" in info.value.field_errors
    assert state() == before
