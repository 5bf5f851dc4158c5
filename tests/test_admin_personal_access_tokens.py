"""Personal access tokens and bots in the admin console (issue 12): the console is a client of the
same services as `/api/user/{id}/access-token` — one pat_create per creation (the value shown once,
on the page that follows, never again), one pat_revoke per revocation, and the API's refusals are
the console's refusals, with the same words and nothing written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from identity import admin as identity_admin
from identity import forms as identity_forms
from identity.exceptions import TokenInvalid
from identity.models import PersonalAccessToken, RevokedToken, SigningKey, User
from identity.services import personal_access_tokens as pats
from identity.services.jwt import jwt_validate
from identity.services.personal_access_tokens import pat_create, pat_revoke
from identity.services.signing_keys import signing_key_rotate
from identity.services.users import user_create
from tests.api.helpers import db_state
from tests.factories import ApplicationFactory, UserFactory, make_api_key
from tests.test_admin import Rows, counting, form_data, messages_of, rows, url

pytestmark = pytest.mark.django_db
__all__ = ["rows"]  # the fixture, imported for its side of pytest's lookup


@pytest.fixture(autouse=True)
def stamps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pats, "usage_stamper", lambda jti, now: None)


@pytest.fixture
def manager_key(rows: Rows) -> str:
    return make_api_key(name="manager", key_manager=True)[1]


def state() -> dict[str, Any]:
    return {
        **db_state(),
        "pats": sorted(
            PersonalAccessToken.objects.values_list("id", "name", "revoked_at", "revoked_by", "scopes")
        ),
        "revoked": sorted(RevokedToken.objects.values_list("jti", flat=True)),
        "users": sorted(User.objects.values_list("id", "email", "is_bot", "password")),
    }


def add_page(admin_client: Client, **values: Any) -> Any:
    page = admin_client.get(url(PersonalAccessToken, "add"))
    return admin_client.post(url(PersonalAccessToken, "add"), form_data(page, **values))


def field_errors(response: Any) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["adminform"].form.errors.items()}


# --- create: one service call, the value shown once -----------------------------------------------


def test_creating_calls_pat_create_once_and_shows_the_value_once(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting(monkeypatch, identity_forms, "pat_create")
    response = add_page(
        admin_client,
        user=str(rows.user.pk),
        name="ci",
        expiry="30",
        application=str(rows.application.pk),
        scopes="admin",
        allowed_ips="10.0.0.0/8, 192.168.1.7",
    )
    assert response.status_code == 200
    assert len(calls) == 1
    token = PersonalAccessToken.objects.get()
    value = response.context["shown_once"][0][1]
    assert jwt_validate(token=value, now=timezone.now(), address="10.1.2.3").claims["jti"] == str(token.pk)
    assert "no-cache" in response["Cache-Control"] and value in response.content.decode()
    assert (token.scopes, token.allowed_ips) == (["admin"], ["10.0.0.0/8", "192.168.1.7/32"])
    assert token.application == rows.application and token.expiry == "30"
    for page in (
        url(PersonalAccessToken, "change", token.pk),
        url(PersonalAccessToken, "changelist"),
        url(User, "change", rows.user.pk),
    ):
        shown = admin_client.get(page).content.decode()
        assert "ci" in shown and value not in shown and value.split(".")[2] not in shown


def test_the_user_page_links_to_a_new_token_for_that_user(admin_client: Client, rows: Rows) -> None:
    page = admin_client.get(url(User, "change", rows.user.pk)).content.decode()
    link = f"{url(PersonalAccessToken, 'add')}?user={rows.user.pk}"
    assert link in page
    assert admin_client.get(link).context["adminform"].form.initial["user"] == str(rows.user.pk)


# --- the API's refusals are the console's ----------------------------------------------------------


@pytest.fixture
def refused_in_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """pat_create fails the test if called: a refusal must come from the form's clean()."""

    def must_not_be_called(**kwargs: Any) -> Any:
        raise AssertionError("the form called pat_create with values its checks refuse")

    monkeypatch.setattr(identity_forms, "pat_create", must_not_be_called)


CASES = [
    # (the API's body, the form's values, API error path, form field)
    ({"name": "taken"}, {"name": "taken"}, "name", "name"),
    ({"name": "c\u200bi"}, {"name": "c\u200bi"}, "name", "name"),  # not printable
    ({"scopes": ["root"]}, {"scopes": "root"}, "scopes", "scopes"),
    ({"allowedIps": ["10.0.0.300"]}, {"allowed_ips": "10.0.0.300"}, "allowedIps", "allowed_ips"),
    ({"allowedIps": ["example.com"]}, {"allowed_ips": "example.com"}, "allowedIps", "allowed_ips"),
    ({"applicationId": "other"}, {"application": "other"}, "applicationId", "application"),
    ({"user": "inactive"}, {"user": "inactive"}, "userId", "user"),
]


@pytest.mark.parametrize(("body", "values", "path", "field"), CASES, ids=[c[2] + repr(c[0]) for c in CASES])
def test_refusals_match_the_api(
    admin_client: Client,
    api_client: APIClient,
    rows: Rows,
    manager_key: str,
    refused_in_clean: None,
    body: dict[str, Any],
    values: dict[str, Any],
    path: str,
    field: str,
) -> None:
    pat_create(user=rows.user, name="taken", expiry="1")
    user = rows.user
    if body.get("user") == "inactive":
        user = UserFactory(tenant=rows.tenant, email="gone@acme.test", is_active=False)
        body, values = {}, {}
    if body.get("applicationId") == "other":
        other = ApplicationFactory(tenant=rows.tenant, name="Shop")  # the user is not registered
        body, values = {"applicationId": str(other.pk)}, {"application": str(other.pk)}
    before = state()
    response = api_client.post(
        f"/api/user/{user.pk}/access-token",
        {"name": "ci", "JWTTokenExpiry": "30", **body},
        format="json",
        HTTP_AUTHORIZATION=manager_key,
    )
    assert response.status_code == 400, response.content
    by_api = [item["message"] for item in response.json()["fieldErrors"][path]]
    assert state() == before
    page = add_page(admin_client, **{"user": str(user.pk), "name": "ci", "expiry": "30", **values})
    assert page.status_code == 200
    assert field_errors(page)[field] == by_api
    assert state() == before


def test_an_unknown_expiry_is_refused_by_both(
    admin_client: Client, api_client: APIClient, rows: Rows, manager_key: str, refused_in_clean: None
) -> None:
    before = state()
    response = api_client.post(
        f"/api/user/{rows.user.pk}/access-token",
        {"name": "ci", "JWTTokenExpiry": "365"},
        format="json",
        HTTP_AUTHORIZATION=manager_key,
    )
    assert response.status_code == 400 and "JWTTokenExpiry" in response.json()["fieldErrors"]
    page = add_page(admin_client, user=str(rows.user.pk), name="ci", expiry="365")
    assert page.status_code == 200 and "expiry" in field_errors(page)
    assert state() == before


# --- revoke: one service call each, never deleted --------------------------------------------------


def test_the_user_page_lists_tokens_and_revokes_one_through_the_service(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = pat_create(
        user=rows.user,
        name="deploy",
        expiry="Unlimited",
        application_id=rows.application.pk,
        scopes=["admin"],
    )
    gone = pat_create(user=rows.user, name="old", expiry="7")
    pat_revoke(token=gone.token, by="test")
    page = admin_client.get(url(User, "change", rows.user.pk)).content.decode()
    for text in ("deploy", "old", "never", "admin", "revoked"):
        assert text in page
    revoke = url(PersonalAccessToken, "revoke", live.token.pk)
    assert f'formaction="{revoke}?next=' in page
    assert url(PersonalAccessToken, "revoke", gone.token.pk) not in page  # nothing left to revoke
    calls = counting(monkeypatch, identity_admin, "pat_revoke")
    assert admin_client.get(revoke).status_code == 405
    back = url(User, "change", rows.user.pk)
    response = admin_client.post(f"{revoke}?next={back}")
    assert response.status_code == 302 and response["Location"] == back
    assert len(calls) == 1 and calls[0]["token"].pk == live.token.pk
    live.token.refresh_from_db()
    assert live.token.revoked_at is not None and live.token.revoked_by.startswith("admin console")
    with pytest.raises(TokenInvalid):
        jwt_validate(token=live.value, now=timezone.now())


def test_the_list_action_revokes_each_selected_token_once(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = [pat_create(user=rows.user, name=f"t{i}", expiry="30").token for i in range(3)]
    pat_revoke(token=tokens[0], by="test")
    calls = counting(monkeypatch, identity_admin, "pat_revoke")
    response = admin_client.post(
        url(PersonalAccessToken, "changelist"),
        {"action": "revoke_selected", "_selected_action": [str(t.pk) for t in tokens]},
    )
    assert response.status_code == 302
    assert sorted(str(c["token"].pk) for c in calls) == sorted(str(t.pk) for t in tokens[1:])
    assert "Revoked 2 personal access tokens." in messages_of(response)
    assert PersonalAccessToken.objects.filter(revoked_at__isnull=True).count() == 0


def test_tokens_are_neither_changed_nor_deleted_here(admin_client: Client, rows: Rows) -> None:
    token = pat_create(user=rows.user, name="ci", expiry="30").token
    before = state()
    assert admin_client.post(url(PersonalAccessToken, "delete", token.pk), {"post": "yes"}).status_code == 403
    page = admin_client.get(url(PersonalAccessToken, "change", token.pk))
    assert page.status_code == 200 and "adminform" in page.context
    assert admin_client.post(url(PersonalAccessToken, "change", token.pk), {"name": "x"}).status_code == 403
    assert state() == before


def test_the_revoke_view_needs_the_permission(client: Client, rows: Rows) -> None:
    viewer = UserFactory(email="viewer@example.com", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_personalaccesstoken"))
    client.force_login(viewer)
    token = pat_create(user=rows.user, name="ci", expiry="30").token
    assert client.post(url(PersonalAccessToken, "revoke", token.pk)).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


# --- the list and its filters -----------------------------------------------------------------------


def test_the_list_filters_by_status_bot_and_user(admin_client: Client, rows: Rows) -> None:
    bot = user_create(tenant=rows.tenant, email="ci-bot@acme.test", is_bot=True)
    live = pat_create(user=rows.user, name="live", expiry="Unlimited").token
    revoked = pat_create(user=rows.user, name="revoked", expiry="30").token
    pat_revoke(token=revoked, by="test")
    expired = pat_create(user=bot, name="expired", expiry="OneHour", now=timezone.now() - timedelta(hours=2))
    of_bot = pat_create(user=bot, name="bot-live", expiry="90").token

    def listed(query: str) -> set[str]:
        response = admin_client.get(url(PersonalAccessToken, "changelist") + query)
        assert response.status_code == 200
        return {token.name for token in response.context["cl"].result_list}

    assert listed("") == {"live", "revoked", "expired", "bot-live"}
    assert listed("?status=live") == {live.name, of_bot.name}
    assert listed("?status=revoked") == {revoked.name}
    assert listed("?status=expired") == {expired.token.name}
    assert listed("?user__is_bot__exact=1") == {"expired", "bot-live"}
    assert listed(f"?user__id__exact={rows.user.pk}") == {"live", "revoked"}
    assert listed("?q=bot-") == {"bot-live"}


# --- bots in the user admin --------------------------------------------------------------------------


def test_a_bot_is_created_without_a_password_and_filtered(admin_client: Client, rows: Rows) -> None:
    page = admin_client.get(url(User, "add"))
    response = admin_client.post(
        url(User, "add"),
        form_data(page, tenant=str(rows.tenant.pk), email="deploy-bot@acme.test", is_bot="on"),
    )
    assert response.status_code == 302, field_errors(response)
    bot = User.objects.get(email="deploy-bot@acme.test")
    assert bot.is_bot and not bot.has_usable_password()
    listing = admin_client.get(url(User, "changelist") + "?is_bot__exact=1")
    assert [user.email for user in listing.context["cl"].result_list] == ["deploy-bot@acme.test"]
    change = admin_client.get(url(User, "change", bot.pk))
    assert "is_bot" not in change.context["adminform"].form.fields  # shown, not editable


def test_a_bot_with_a_password_is_refused_like_the_api(
    admin_client: Client, api_client: APIClient, rows: Rows, manager_key: str
) -> None:
    before = state()
    body = {"user": {"email": "bot@acme.test", "isBot": True, "password": "correct horse battery"}}
    response = api_client.post(
        "/api/user",
        body,
        format="json",
        HTTP_AUTHORIZATION=manager_key,
        HTTP_X_FUSIONAUTH_TENANTID=str(rows.tenant.pk),
    )
    assert response.status_code == 400
    by_api = [item["message"] for item in response.json()["fieldErrors"]["user.password"]]
    assert state() == before
    page = admin_client.get(url(User, "add"))
    password = "correct horse battery"
    refused = admin_client.post(
        url(User, "add"),
        form_data(
            page,
            tenant=str(rows.tenant.pk),
            email="bot@acme.test",
            is_bot="on",
            password1=password,
            password2=password,
        ),
    )
    assert refused.status_code == 200
    assert field_errors(refused)["password2"] == by_api
    assert state() == before


def test_a_person_still_needs_a_password(admin_client: Client, rows: Rows) -> None:
    before = state()
    page = admin_client.get(url(User, "add"))
    refused = admin_client.post(
        url(User, "add"), form_data(page, tenant=str(rows.tenant.pk), email="p@acme.test")
    )
    assert refused.status_code == 200 and {"password1", "password2"} <= set(field_errors(refused))
    assert state() == before


# --- keys that verify live tokens ---------------------------------------------------------------------


def test_a_key_verifying_live_tokens_is_deleted_only_by_the_explicit_action(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = pat_create(user=rows.user, name="ci", expiry="Unlimited")
    old = rows.tenant.access_token_signing_key
    signing_key_rotate(tenant=rows.tenant, algorithm="ES256", name="next")
    SigningKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    listing = admin_client.get(url(SigningKey, "changelist")).content.decode()
    assert "still verifies 1 live personal access token" in listing
    before = state()
    refused = admin_client.post(url(SigningKey, "delete", old.pk), {"post": "yes"}, follow=True)
    assert any("verifies 1 live personal access token" in m for m in messages_of(refused))
    assert state() == before
    jwt_validate(token=created.value, now=timezone.now())
    calls = counting(monkeypatch, identity_admin, "signing_key_delete")
    response = admin_client.post(
        url(SigningKey, "changelist"),
        {"action": "delete_revoking_personal_access_tokens", "_selected_action": [str(old.pk)]},
    )
    assert response.status_code == 302
    assert calls == [{"key": calls[0]["key"], "revoke_personal_access_tokens": True}]
    assert not SigningKey.objects.filter(pk=old.pk).exists()
    with pytest.raises(TokenInvalid):
        jwt_validate(token=created.value, now=timezone.now())


@pytest.mark.parametrize("target", ["user", "application", "tenant"])
def test_a_superuser_deletes_what_holds_personal_access_tokens(
    admin_client: Client, api_client: APIClient, rows: Rows, target: str
) -> None:
    """PATs are revoked and kept, never deleted one by one, but they go with their user,
    application or tenant: the console refused those deletes for want of a PAT delete permission.
    What the PAT said stays refused afterwards."""
    from identity.models import Application, Tenant
    from identity.services.registrations import registration_find

    assert registration_find(user=rows.user, application_id=rows.application.pk) is not None
    created = pat_create(user=rows.user, name="ci", expiry="30", application_id=rows.application.pk)
    pat_revoke(token=pat_create(user=rows.user, name="old", expiry="30").token, by="test")
    model, pk = {"user": (User, rows.user.pk), "application": (Application, rows.application.pk),
                 "tenant": (Tenant, rows.tenant.pk)}[target]  # fmt: skip
    page = admin_client.get(url(model, "delete", pk))
    assert page.status_code == 200 and b"permission to delete" not in page.content
    response = admin_client.post(url(model, "delete", pk), {"post": "yes"})
    assert response.status_code == 302, response.content[:500]
    assert not model.objects.filter(pk=pk).exists()
    validated = api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {created.value}")
    assert validated.status_code == 401


def test_deleting_an_application_ends_the_tokens_bound_to_it(api_client: APIClient, rows: Rows) -> None:
    """Its PAT rows go with it and a verifier reads no row: a token left live would have kept
    working with nothing left to list or revoke it by."""
    from identity.services.applications import application_delete

    created = pat_create(user=rows.user, name="ci", expiry="Unlimited", application_id=rows.application.pk)
    other = pat_create(user=rows.user, name="unbound", expiry="30")
    application_delete(application=rows.application)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {created.value}"}
    assert api_client.get("/api/jwt/validate", **bearer).status_code == 401
    assert RevokedToken.objects.filter(jti=str(created.token.pk)).exists()
    unbound = api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {other.value}")
    assert unbound.status_code == 200  # a token not bound to the application is not its to end
