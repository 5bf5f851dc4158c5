"""Provisioning API: bad input gives FusionAuth field errors and changes nothing; tenant-locked
keys never see or touch another tenant; key managers cannot grant more than they hold."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from identity.models import APIKey, Application, AuditEntry, Registration, User
from identity.services.applications import application_update
from tests.api.helpers import db_state
from tests.factories import ApplicationFactory, TenantFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase"


@pytest.fixture
def global_key(world) -> str:
    _, raw = make_api_key(name="global manager", key_manager=True)
    return raw


@pytest.fixture
def locked_key(world) -> str:
    _, raw = make_api_key(name="locked manager", tenant=world.tenant, key_manager=True)
    return raw


def _call(api_client, method, path, key, body=None, **headers):
    return getattr(api_client, method)(path, body, format="json", HTTP_AUTHORIZATION=key, **headers)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tenant": {"issuer": "x"}}, "tenant.name"),
        ({"tenant": {"name": "", "issuer": "x"}}, "tenant.name"),
        ({"tenant": {"name": "Default", "issuer": "x"}}, "tenant.name"),
        ({"tenant": {"name": "n", "issuer": "x", "jwtConfiguration": {"timeToLiveInSeconds": 0}}},
         "tenant.jwtConfiguration.timeToLiveInSeconds"),
        ({"tenant": {"name": "n", "issuer": "x", "jwtConfiguration": {"timeToLiveInSeconds": "60"}}},
         "tenant.jwtConfiguration.timeToLiveInSeconds"),
        ({"tenant": {"name": "n", "issuer": "x", "jwtConfiguration": {"refreshTokenUsagePolicy": "Never"}}},
         "tenant.jwtConfiguration.refreshTokenUsagePolicy"),
        ({"tenant": {"name": "n", "issuer": "x", "jwtConfiguration": {"accessTokenKeyId": "nope"}}},
         "tenant.jwtConfiguration.accessTokenKeyId"),
        ({"tenant": {"name": "n", "issuer": "x", "loginConfiguration": {"requireAuthentication": "yes"}}},
         "tenant.loginConfiguration.requireAuthentication"),
        ({"tenant": "n"}, "tenant"),
        ({}, "tenant"),
    ],
)  # fmt: skip
def test_bad_tenants(api_client, global_key, body, field):
    before = db_state()
    response = _call(api_client, "post", "/api/tenant", global_key, body)
    assert response.status_code == 400
    assert field in response.json()["fieldErrors"]
    assert db_state() == before


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"user": {"password": PASSWORD}}, "user.email", "[blank]user.email"),
        ({"user": {"email": "not-an-email", "password": PASSWORD}}, "user.email", "[invalid]user.email"),
        ({"user": {"email": "ANN@example.com", "password": PASSWORD}}, "user.email", "[duplicate]user.email"),
        ({"user": {"email": "b@example.com", "username": "Ann", "password": PASSWORD}}, "user.username",
         "[duplicate]user.username"),
        ({"user": {"email": "b@example.com", "password": "short"}}, "user.password",
         "[invalid]user.password"),
        ({"user": {"email": "b@example.com", "active": "yes"}}, "user.active", "[invalid]user.active"),
        ({"user": {"email": "b@example.com", "expiry": "tomorrow"}}, "user.expiry", "[invalid]user.expiry"),
        ({"user": {"email": "b\x00@example.com"}}, "user.email", "[invalid]user.email"),
    ],
)  # fmt: skip
def test_bad_users(api_client, world, global_key, body, field, code):
    before = db_state()
    response = _call(
        api_client, "post", "/api/user", global_key, body, HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk)
    )
    assert response.status_code == 400
    assert response.json()["fieldErrors"][field][0]["code"] == code
    assert db_state() == before


def test_user_creation_needs_a_tenant_when_ambiguous(api_client, world, global_key):
    response = _call(api_client, "post", "/api/user", global_key, {"user": {"email": "x@example.com"}})
    assert response.status_code == 400
    assert response.json()["generalErrors"][0]["code"] == "[TenantIdRequired]"


@pytest.mark.parametrize("whose", ["own", "other", "unknown"])
def test_a_tenant_locked_key_deletes_no_tenant(api_client, world, locked_key, whose):
    """It may not create a tenant, nor delete one: its own went with every user, session and key
    in it (the caller's included). The same 401 whatever the id, so nothing is learnt of others."""
    target = {"own": world.tenant.pk, "other": TenantFactory().pk, "unknown": uuid.uuid4()}[whose]
    before = db_state()
    response = _call(api_client, "delete", f"/api/tenant/{target}", locked_key)
    assert (response.status_code, response.content) == (401, b"")
    assert db_state() == before


def test_tenant_locked_key_never_sees_another_tenant(api_client, world, locked_key):
    other = TenantFactory()
    stranger = UserFactory(tenant=other, email="stranger@example.com")
    foreign_app = ApplicationFactory(tenant=other)
    before = db_state()
    for method, path in [
        ("get", f"/api/tenant/{other.pk}"),
        ("get", f"/api/user/{stranger.pk}"),
        ("patch", f"/api/user/{stranger.pk}"),
        ("delete", f"/api/user/{stranger.pk}?hardDelete=true"),
        ("get", f"/api/application/{foreign_app.pk}"),
        ("delete", f"/api/application/{foreign_app.pk}"),
        ("post", f"/api/application/{foreign_app.pk}/role"),
        ("post", f"/api/user/registration/{stranger.pk}"),
    ]:
        response = _call(
            api_client,
            method,
            path,
            locked_key,
            {"registration": {"applicationId": str(foreign_app.pk)}}
            if "registration" in path
            else {"user": {"lastName": "x"}, "role": {"name": "r"}},
        )
        assert (response.status_code, response.content) == (404, b""), (method, path)
    assert db_state() == before
    listed = _call(api_client, "get", "/api/tenant", locked_key).json()["tenants"]
    assert [t["id"] for t in listed] == [str(world.tenant.pk)]
    assert (
        _call(
            api_client, "post", "/api/tenant", locked_key, {"tenant": {"name": "n", "issuer": "i"}}
        ).status_code
        == 401
    )
    # Naming another tenant in the header does not widen a locked key.
    response = _call(
        api_client,
        "get",
        f"/api/user?email={stranger.email}",
        locked_key,
        HTTP_X_FUSIONAUTH_TENANTID=str(other.pk),
    )
    assert response.status_code == 401


def test_registration_to_an_application_of_another_tenant_is_refused(api_client, world, global_key):
    foreign_app = ApplicationFactory(tenant=TenantFactory())
    before = db_state()
    response = _call(
        api_client,
        "post",
        f"/api/user/registration/{world.user.pk}",
        global_key,
        {"registration": {"applicationId": str(foreign_app.pk)}},
    )
    assert response.status_code == 400 and "registration.applicationId" in response.json()["fieldErrors"]
    assert db_state() == before


def test_combined_user_and_registration_is_all_or_nothing(api_client, world, global_key):
    before = db_state()
    response = _call(api_client, "post", "/api/user/registration", global_key, {
        "user": {"email": "new@example.com", "password": "a long passphrase"},
        "registration": {"applicationId": str(world.application.pk), "roles": ["no-such-role"]},
    }, HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk))  # fmt: skip
    assert response.status_code == 400 and "registration.roles" in response.json()["fieldErrors"]
    assert db_state() == before
    assert not User.objects.filter(email="new@example.com").exists()


def test_api_keys_need_a_key_manager(api_client, world):
    _, plain = make_api_key()
    assert _call(api_client, "post", "/api/api-key", plain, {"apiKey": {"name": "x"}}).status_code == 401


def test_a_key_cannot_grant_more_than_it_holds(api_client, world):
    _, limited = make_api_key(
        key_manager=True, permissions={"/api/api-key": ["POST"], "/api/jwt/refresh": ["GET"]}
    )
    before = APIKey.objects.count()
    for body in (
        {"apiKey": {"name": "super"}},  # empty permissions = super key
        {"apiKey": {"name": "wider", "permissions": {"endpoints": {"/api/jwt/refresh": ["GET", "DELETE"]}}}},
        {"apiKey": {"name": "other", "permissions": {"endpoints": {"/api/user": ["GET"]}}}},
    ):
        response = _call(api_client, "post", "/api/api-key", limited, body)
        assert response.status_code == 400, body
    assert APIKey.objects.count() == before
    ok = _call(
        api_client,
        "post",
        "/api/api-key",
        limited,
        {"apiKey": {"name": "narrow", "permissions": {"endpoints": {"/api/jwt/refresh": ["GET"]}}}},
    )
    assert ok.status_code == 200 and ok.json()["apiKey"]["key"]


def test_locked_manager_creates_only_keys_of_its_tenant(api_client, world, locked_key):
    created = _call(api_client, "post", "/api/api-key", locked_key, {"apiKey": {"name": "k"}}).json()[
        "apiKey"
    ]
    assert created["tenantId"] == str(world.tenant.pk)
    other = TenantFactory()
    response = _call(
        api_client, "post", "/api/api-key", locked_key, {"apiKey": {"name": "k", "tenantId": str(other.pk)}}
    )
    assert response.status_code == 400
    foreign_key, _ = make_api_key(tenant=other)
    assert _call(api_client, "get", f"/api/api-key/{foreign_key.pk}", locked_key).status_code == 404


def test_a_key_cannot_delete_itself(api_client, world):
    key, raw = make_api_key(key_manager=True)
    response = _call(api_client, "delete", f"/api/api-key/{key.pk}", raw)
    assert response.status_code == 400
    assert APIKey.objects.filter(pk=key.pk).exists()


def test_application_deactivate_and_hard_delete(api_client, world, global_key):
    app = ApplicationFactory(tenant=world.tenant)
    assert _call(api_client, "delete", f"/api/application/{app.pk}", global_key).status_code == 200
    assert Application.objects.get(pk=app.pk).active is False
    inactive = _call(api_client, "get", "/api/application?inactive=true", global_key).json()["applications"]
    assert str(app.pk) in {a["id"] for a in inactive}
    assert (
        _call(api_client, "delete", f"/api/application/{app.pk}?hardDelete=true", global_key).status_code
        == 200
    )
    assert not Application.objects.filter(pk=app.pk).exists()


@pytest.mark.parametrize(
    ("query", "body", "deleted"),
    [
        ("", None, False),
        ("", {}, False),
        ("", {"hardDelete": False}, False),
        ("", {"hardDelete": True}, True),  # the SDK's delete_user_with_request
        ("?hardDelete=true", None, True),  # the SDK's delete_user(…, hard_delete=True)
        ("", {"hardDelete": True, "eventInfo": {"data": {}}}, True),
    ],
)
def test_a_user_is_deactivated_or_deleted_as_asked(api_client, world, global_key, query, body, deleted):
    user = UserFactory(tenant=world.tenant)
    response = _call(api_client, "delete", f"/api/user/{user.pk}{query}", global_key, body)
    assert (response.status_code, response.content) == (200, b"")
    if deleted:
        assert not User.objects.filter(pk=user.pk).exists()
    else:
        assert User.objects.get(pk=user.pk).is_active is False


@pytest.mark.parametrize("body", [{"hardDelete": "true"}, {"hardDelete": 1}, {"hardDelete": None}, "yes"])
def test_a_hard_delete_flag_that_is_not_a_boolean_changes_nothing(api_client, world, global_key, body):
    user = UserFactory(tenant=world.tenant)
    before = db_state()
    response = _call(api_client, "delete", f"/api/user/{user.pk}", global_key, body)
    assert response.status_code == 400, response.content
    assert db_state() == before


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_role_update_changes_only_what_it_sends(api_client, world, global_key, method):
    """docs/fusionauth-differences.md: PUT merges like PATCH, so renaming a role does not reset
    the default flag that decides what new registrations get."""
    url = f"/api/application/{world.application.pk}/role"
    created = _call(
        api_client,
        "post",
        url,
        global_key,
        {"role": {"name": "r1", "description": "keep", "isDefault": True}},
    ).json()["role"]
    answer = _call(api_client, method, f"{url}/{created['id']}", global_key, {"role": {"name": "r1x"}})
    assert answer.status_code == 200, answer.content
    role = answer.json()["role"]
    assert (role["name"], role["description"], role["isDefault"]) == ("r1x", "keep", True)


def test_role_rename_and_delete_follow_registrations(api_client, world, global_key):
    role = world.application.roles.get(name="user")
    url = f"/api/application/{world.application.pk}/role/{role.pk}"
    assert _call(api_client, "patch", url, global_key, {"role": {"name": "member"}}).status_code == 200
    assert Registration.objects.get(user=world.user).roles == ["member"]
    assert _call(api_client, "delete", url, global_key).status_code == 200
    assert Registration.objects.get(user=world.user).roles == []


def _change_password(api_client, world, key=None, **body):
    body = {"loginId": "ann@example.com", "currentPassword": "wrong", "password": "a new passphrase"} | body
    headers = {"HTTP_X_FUSIONAUTH_TENANTID": str(world.tenant.pk)}
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = key
    return api_client.post("/api/user/change-password", body, format="json", **headers)


def test_change_password_with_the_wrong_current_password_is_404(api_client, world):
    response = _change_password(api_client, world, world.api_key)
    assert (response.status_code, response.content) == (404, b"")
    assert User.objects.get(pk=world.user.pk).check_password(world.password)
    missing = api_client.post("/api/user/change-password", {}, format="json")
    assert missing.status_code == 400 and set(missing.json()["fieldErrors"]) == {
        "loginId",
        "currentPassword",
        "password",
    }
    assert api_client.post(f"/api/user/change-password/{uuid.uuid4()}", {}, format="json").status_code == 404


def test_change_password_asks_for_what_login_asks_for(api_client, world):
    """An API key unless the application (or, without one, the tenant) lets logins go without."""
    before = db_state()
    assert _change_password(api_client, world, currentPassword=world.password).status_code == 401
    assert _change_password(api_client, world, "not a key", currentPassword=world.password).status_code == 401
    assert db_state() == before
    application_update(application=world.application, require_authentication=False)
    anonymous = _change_password(api_client, world, applicationId=str(world.application.pk))
    assert anonymous.status_code == 404  # now counted like a login without a key
    assert User.objects.get(pk=world.user.pk).failed_login_count == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"applicationId": "not-a-uuid"}, "applicationId"),
        ({"applicationId": str(uuid.uuid4())}, "applicationId"),
        ({"password": "short"}, "password"),
        ({"password": "ann@example.com"}, "password"),
        ({"loginId": "x" * 321}, "loginId"),
        ({"currentPassword": 7}, "currentPassword"),
    ],
)
def test_bad_change_password_requests_are_400_and_change_nothing(api_client, world, body, field):
    before = db_state()
    response = _change_password(api_client, world, world.api_key, **body)
    assert response.status_code == 400 and field in response.json()["fieldErrors"], response.content
    assert db_state() == before


def test_change_password_while_locked_is_409_for_any_password(api_client, world):
    for _ in range(world.tenant.failed_login_max_attempts):
        assert _change_password(api_client, world, world.api_key).status_code == 404
    before = db_state()
    right = _change_password(api_client, world, world.api_key, currentPassword=world.password)
    wrong = _change_password(api_client, world, world.api_key)
    assert (right.status_code, right.content) == (wrong.status_code, wrong.content)
    assert right.json()["generalErrors"][0]["code"] == "[LoginPreventedException]"
    assert db_state() == before


def test_user_search_requires_a_parameter_and_finds_by_username(api_client, world, global_key):
    headers = {"HTTP_X_FUSIONAUTH_TENANTID": str(world.tenant.pk)}
    assert _call(api_client, "get", "/api/user", global_key, **headers).status_code == 400
    found = _call(api_client, "get", "/api/user?username=ANN", global_key, **headers).json()["user"]
    assert found["id"] == str(world.user.pk) and found["registrations"]
    assert _call(api_client, "get", "/api/user?loginId=nobody", global_key, **headers).status_code == 404


def _lock(user: User) -> None:
    User.objects.filter(pk=user.pk).update(
        locked_until=timezone.now() + timedelta(minutes=5), failed_login_count=5
    )


def _login_status(api_client, world) -> int:
    body = {
        "loginId": "ann@example.com",
        "password": world.password,
        "applicationId": str(world.application.pk),
    }
    return api_client.post("/api/login", body, format="json", HTTP_AUTHORIZATION=world.api_key).status_code


def test_patch_locked_false_unlocks_as_the_console_does(api_client, world, global_key):
    _lock(world.user)
    assert _login_status(api_client, world) == 409
    shown = _call(api_client, "get", f"/api/user/{world.user.pk}", global_key).json()["user"]
    assert shown["locked"] is True
    response = _call(
        api_client, "patch", f"/api/user/{world.user.pk}", global_key, {"user": {"locked": False}}
    )
    assert response.status_code == 200 and response.json()["user"]["locked"] is False
    world.user.refresh_from_db()
    assert (world.user.locked_until, world.user.failed_login_count) == (None, 0)
    assert AuditEntry.objects.filter(action="user.unlock", object_id=str(world.user.pk)).exists()
    assert _login_status(api_client, world) == 200


def test_unlock_with_a_refused_password_changes_nothing(api_client, world, global_key):
    _lock(world.user)
    before = db_state()
    body = {"user": {"locked": False, "password": "short"}}
    response = _call(api_client, "patch", f"/api/user/{world.user.pk}", global_key, body)
    assert response.status_code == 400 and "user.password" in response.json()["fieldErrors"]
    assert db_state() == before


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"user": {"unlock": True}}, "user.unlock", "[unknown]user.unlock"),
        ({"user": {"firstName": "A", "lockedUntil": None}}, "user.lockedUntil", "[unknown]user.lockedUntil"),
        ({"user": {}, "unlock": True}, "unlock", "[unknown]unlock"),
        ({"user": {"locked": True}}, "user.locked", "[invalid]user.locked"),
        ({"user": {"locked": "false"}}, "user.locked", "[invalid]user.locked"),
        ({"user": {"locked": None}}, "user.locked", "[invalid]user.locked"),
        ({"user": {"locked": 0}}, "user.locked", "[invalid]user.locked"),
        ({"user": {"locked": False, "email": "not-an-email"}}, "user.email", "[invalid]user.email"),
        ({"locked": False}, "user", "[missing]user"),
        ({"user": [{"locked": False}]}, "user", "[invalid]user"),
    ],
)  # fmt: skip
def test_bad_patches_are_400_and_change_nothing(api_client, world, global_key, body, field, code):
    _lock(world.user)
    before = db_state()
    response = _call(api_client, "patch", f"/api/user/{world.user.pk}", global_key, body)
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["fieldErrors"][field]] == [code]
    assert db_state() == before
    assert not AuditEntry.objects.filter(action__in=["user.unlock", "user.update"]).exists()


def test_unknown_members_are_refused_in_every_patch_but_ignored_by_put(api_client, world, global_key):
    before = db_state()
    paths = {
        f"/api/tenant/{world.tenant.pk}": {"tenant": {"jwtConfiguration": {"timeToLiveInSecond": 5}}},
        f"/api/application/{world.application.pk}": {"application": {"nmae": "x"}},
        f"/api/user/registration/{world.user.pk}/{world.application.pk}": {"registration": {"role": ["x"]}},
    }
    for path, body in paths.items():
        response = _call(api_client, "patch", path, global_key, body)
        assert response.status_code == 400, path
        assert all(code.startswith("[unknown]") for code in _codes(response.json()))
    assert db_state() == before
    put = _call(api_client, "put", f"/api/user/{world.user.pk}", global_key, {"user": {"mobilePhone": "1"}})
    assert put.status_code == 200  # PUT keeps FusionAuth's habit of ignoring members we do not have


def test_locked_false_on_a_new_user_is_accepted_and_true_refused(api_client, world, global_key):
    headers = {"HTTP_X_FUSIONAUTH_TENANTID": str(world.tenant.pk)}
    new = {"user": {"email": "bo@example.com", "locked": False}}
    assert _call(api_client, "post", "/api/user", global_key, new, **headers).status_code == 200
    before = db_state()
    bad = {"user": {"email": "cy@example.com", "locked": True}}
    assert _call(api_client, "post", "/api/user", global_key, bad, **headers).status_code == 400
    assert db_state() == before


def _codes(body: dict) -> list[str]:
    return [item["code"] for items in body["fieldErrors"].values() for item in items]


def test_a_patch_may_carry_any_members_inside_free_form_data(api_client, world, global_key):
    body = {"user": {"data": {"anything": {"nested": [1, 2]}}, "firstName": "Ann"}}
    response = _call(api_client, "patch", f"/api/user/{world.user.pk}", global_key, body)
    assert response.status_code == 200, response.json()
    assert response.json()["user"]["data"] == {"anything": {"nested": [1, 2]}}


def test_a_user_whose_stored_data_is_not_an_object_still_logs_in_and_reads(api_client, world, global_key):
    """Rows the console saved before it validated `data` (a list): answered as stored, never a 500."""
    User.objects.filter(pk=world.user.pk).update(data=[1, 2])
    Registration.objects.filter(user=world.user).update(data="text")
    read = _call(api_client, "get", f"/api/user/{world.user.pk}", global_key)
    assert read.status_code == 200 and read.json()["user"]["data"] == [1, 2]
    login = api_client.post(
        "/api/login",
        {"loginId": world.user.email, "password": world.password, "applicationId": str(world.application.pk)},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert login.status_code == 200, login.content
    fixed = _call(api_client, "patch", f"/api/user/{world.user.pk}", global_key, {"user": {"data": {"a": 1}}})
    assert fixed.status_code == 200 and fixed.json()["user"]["data"] == {"a": 1}
