"""POST /api/user/import, GET|POST /api/user/search, and the FusionAuth user paths we do not serve."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import pytest

from identity.models import User
from tests.api.helpers import db_state
from tests.factories import UNKNOWN_ID, TenantFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db

PASSWORD = "imported passphrase 7"
SALT = base64.b64encode(b"sixteen byte salt").decode()
HASH = base64.b64encode(
    hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), base64.b64decode(SALT), 1000)
).decode()


@pytest.fixture
def global_key(world) -> str:
    _, raw = make_api_key(name="importer")
    return raw


@pytest.fixture
def locked_key(world) -> str:
    _, raw = make_api_key(name="locked importer", tenant=world.tenant)
    return raw


def _post(api_client, path, key, body, **headers):
    return api_client.post(path, body, format="json", HTTP_AUTHORIZATION=key, **headers)


def _user(email, **extra):
    return {"email": email, "password": HASH, "salt": SALT, "factor": 1000,
            "encryptionScheme": "salted-pbkdf2-hmac-sha256", **extra}  # fmt: skip


def test_import_answers_200_with_an_empty_body_and_the_users_log_in(api_client, world, locked_key):
    app = str(world.application.pk)
    body = {"users": [_user("bo@example.com", firstName="Bo", registrations=[{"applicationId": app}]),
                      _user("cy@example.com", username="cy", active=True, birthDate="1970-01-01")],
            "validateDbConstraints": True}  # fmt: skip
    response = _post(api_client, "/api/user/import", locked_key, body)
    assert (response.status_code, response.content) == (200, b"")
    assert User.objects.filter(tenant=world.tenant).count() == 3
    login = _post(api_client, "/api/login", world.api_key,
                  {"loginId": "bo@example.com", "password": PASSWORD, "applicationId": app})  # fmt: skip
    assert login.status_code == 200 and login.json()["user"]["firstName"] == "Bo"


def test_request_level_scheme_and_factor_apply_to_users_naming_none(api_client, world, locked_key):
    body = {"users": [{"email": "d@example.com", "password": HASH, "salt": SALT}],
            "encryptionScheme": "salted-pbkdf2-hmac-sha256", "factor": 1000}  # fmt: skip
    assert _post(api_client, "/api/user/import", locked_key, body).status_code == 200
    assert User.objects.get(email_key="d@example.com").password.startswith("fusionauth-pbkdf2-sha256$1000$")


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({}, "users", "[missing]users"),
        ({"users": []}, "users", "[invalid]users"),
        ({"users": "x"}, "users", "[invalid]users"),
        ({"users": [_user("a@example.com"), "x"]}, "users[1]", "[invalid]users[1]"),
        ({"users": [_user("a@example.com"), {"password": HASH}]}, "users[1].email",
         "[missing]users[1].email"),
        ({"users": [{**_user("a"), "email": 5}]}, "users[0].email", "[invalid]users[0].email"),
        ({"users": [_user("a@example.com", factor="1000")]}, "users[0].factor", "[invalid]users[0].factor"),
        ({"users": [_user("a@example.com", active="yes")]}, "users[0].active", "[invalid]users[0].active"),
        ({"users": [_user("a@example.com", expiry=-1)]}, "users[0].expiry", "[invalid]users[0].expiry"),
        ({"users": [_user("a@example.com", firstName="x" * 151)]}, "users[0].firstName",
         "[tooLong]users[0].firstName"),
        ({"users": [_user("a@example.com", registrations=[{"applicationId": "nope"}])]},
         "users[0].registrations[0].applicationId", "[invalid]users[0].registrations[0].applicationId"),
        ({"users": [_user("a@example.com", registrations=[{"applicationId": str(uuid.uuid4())}])]},
         "users[0].registrations[0].applicationId", "[invalid]users[0].registrations[0].applicationId"),
        ({"users": [_user("a@example.com"), _user("A@EXAMPLE.COM")]}, "users[1].email",
         "[duplicate]users[1].email"),
        ({"users": [_user("ann@example.com")], "validateDbConstraints": True}, "users[0].email",
         "[duplicate]users[0].email"),
        ({"users": [_user("ann@example.com")]}, "users", "[duplicate]users"),
        ({"users": [_user("a@example.com", encryptionScheme="salted-md5")]}, "users[0].encryptionScheme",
         "[invalid]users[0].encryptionScheme"),
        ({"users": [_user("a@example.com", salt="")]}, "users[0].salt", "[invalid]users[0].salt"),
        ({"users": [{"email": "a@example.com", "password": "pbkdf2_sha256$abc$$"}]}, "users[0].password",
         "[invalid]users[0].password"),
        ({"users": [{"email": "a@example.com", "password": "argon2$garbage"}]}, "users[0].password",
         "[invalid]users[0].password"),
        ({"users": [{"email": "a@example.com", "password": "pbkdf2_sha256$20000000$c2FsdA$aGFzaA=="}]},
         "users[0].password", "[invalid]users[0].password"),
        ({"users": [_user("a@example.com")], "validateDbConstraints": "true"}, "validateDbConstraints",
         "[invalid]validateDbConstraints"),
    ],
)  # fmt: skip
def test_bad_imports_name_the_field_and_change_nothing(api_client, world, locked_key, body, field, code):
    before = db_state()
    response = _post(api_client, "/api/user/import", locked_key, body)
    assert response.status_code == 400, response.content
    errors = response.json()["fieldErrors"]
    assert errors[field][0]["code"] == code, errors
    assert db_state() == before


def test_every_problem_of_a_batch_is_named_at_once(api_client, world, locked_key):
    """A bad hash in one user and an existing email in another: both in one 400 (the database's
    clashes were only looked for once the batch itself had none)."""
    body = {"users": [{"email": "new@example.com", "password": "not-a-hash"}, _user("ann@example.com")],
            "validateDbConstraints": True}  # fmt: skip
    before = db_state()
    response = _post(api_client, "/api/user/import", locked_key, body)
    assert response.status_code == 400
    assert {"users[0].salt", "users[1].email"} <= set(response.json()["fieldErrors"]), response.json()
    assert db_state() == before


def test_import_needs_a_key_with_the_import_permission(api_client, world):
    _, login_only = make_api_key(name="login only", permissions={"/api/login": ["POST"]})
    before = db_state()
    response = _post(api_client, "/api/user/import", login_only, {"users": [_user("a@example.com")]})
    assert (response.status_code, response.content) == (401, b"")
    assert _post(api_client, "/api/user/import", "", {"users": [_user("a@example.com")]}).status_code == 401
    assert db_state() == before


def test_a_locked_key_imports_into_its_own_tenant_only(api_client, world, locked_key):
    other = TenantFactory()
    response = _post(api_client, "/api/user/import", locked_key, {"users": [_user("a@example.com")]},
                     HTTP_X_FUSIONAUTH_TENANTID=str(other.pk))  # fmt: skip
    assert response.status_code == 401
    assert not User.objects.filter(tenant=other).exists()


def test_large_imports_are_accepted_in_one_request(api_client, world, locked_key):
    body = {"users": [_user(f"user{i}@example.com", firstName="F" * 100) for i in range(6000)]}
    assert len(json.dumps(body)) > 1024 * 1024
    response = _post(api_client, "/api/user/import", locked_key, body)
    assert response.status_code == 200, response.content[:300]
    assert User.objects.filter(tenant=world.tenant).count() == 6001


# --- search -------------------------------------------------------------------------------------


@pytest.fixture
def people(world):
    UserFactory(tenant=world.tenant, email="zed@example.com", username="zorro", first_name="Zed")
    UserFactory(tenant=world.tenant, email="amy@example.com", first_name="Amy", last_name="Pond")
    stranger = UserFactory(tenant=TenantFactory(), email="amy@elsewhere.example", first_name="Amy")
    return stranger


def _emails(response):
    assert response.status_code == 200, response.content
    return [u["email"] for u in response.json()["users"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("*", ["amy@example.com", "ann@example.com", "zed@example.com"]),
        ("amy", ["amy@example.com"]),
        ("POND", ["amy@example.com"]),
        ("zorro", ["zed@example.com"]),
        ("zor*", ["zed@example.com"]),
        ("example.com", ["amy@example.com", "ann@example.com", "zed@example.com"]),
        ("amy pond", ["amy@example.com"]),
        ("amy zed", []),
    ],
)
def test_search_by_query_string_in_the_callers_tenant(api_client, world, locked_key, people, query, expected):
    response = _post(api_client, "/api/user/search", locked_key, {"search": {"queryString": query}})
    assert _emails(response) == expected
    assert response.json()["total"] == len(expected)
    assert response["Cache-Control"].startswith("max-age=0")


def test_search_pages_and_sorts(api_client, world, locked_key, people):
    body = {"search": {"queryString": "*", "numberOfResults": 2, "startRow": 1,
                       "sortFields": [{"name": "email", "order": "desc"}]}}  # fmt: skip
    response = _post(api_client, "/api/user/search", locked_key, body)
    assert _emails(response) == ["ann@example.com", "amy@example.com"] and response.json()["total"] == 3


def test_search_by_ids_never_shows_another_tenants_user(api_client, world, locked_key, people):
    ids = [str(world.user.pk), str(people.pk), str(uuid.uuid4())]
    response = api_client.get("/api/user/search", {"ids": ids}, HTTP_AUTHORIZATION=locked_key)
    assert _emails(response) == ["ann@example.com"]
    assert response.json()["users"][0]["registrations"][0]["applicationId"] == str(world.application.pk)
    by_id = _post(api_client, "/api/user/search", locked_key, {"search": {"queryString": str(people.pk)}})
    assert _emails(by_id) == []


def test_a_global_key_searches_the_named_tenant_or_all(api_client, world, global_key, people):
    everyone = api_client.get("/api/user/search", {"queryString": "amy"}, HTTP_AUTHORIZATION=global_key)
    assert _emails(everyone) == ["amy@elsewhere.example", "amy@example.com"]
    named = api_client.get("/api/user/search", {"queryString": "amy"}, HTTP_AUTHORIZATION=global_key,
                           HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk))  # fmt: skip
    assert _emails(named) == ["amy@example.com"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "search"),
        ({"search": {}}, "search.queryString"),
        ({"search": {"queryString": ""}}, "search.queryString"),
        ({"search": {"queryString": 5}}, "search.queryString"),
        ({"search": {"ids": ["nope"]}}, "search.ids"),
        ({"search": {"queryString": "*", "numberOfResults": 501}}, "search.numberOfResults"),
        ({"search": {"queryString": "*", "numberOfResults": "5"}}, "search.numberOfResults"),
        ({"search": {"queryString": "*", "startRow": -1}}, "search.startRow"),
        ({"search": {"queryString": "*", "sortFields": [{"name": "password"}]}}, "search.sortFields[0].name"),
    ],
)
def test_bad_searches_are_400(api_client, world, locked_key, body, field):
    response = _post(api_client, "/api/user/search", locked_key, body)
    assert response.status_code == 400 and field in response.json()["fieldErrors"], response.json()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("numberOfResults", "many", "integer"),
        ("startRow", "-1", "greater than or equal to 0"),  # the range, not "a valid integer"
        ("startRow", "1e3", "integer"),
        ("numberOfResults", "0x10", "integer"),
    ],
)
def test_get_search_with_bad_paging_is_400_saying_why(api_client, world, locked_key, name, value, says):
    response = api_client.get("/api/user/search", {"queryString": "*", name: value},
                              HTTP_AUTHORIZATION=locked_key)  # fmt: skip
    assert response.status_code == 400
    errors = response.json()["fieldErrors"][f"search.{name}"]
    assert says in errors[0]["message"], errors


# --- paths we do not serve ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/user/forgot-password",
        "/api/user/verify-email",
        "/api/user/verify-email/abc",
        "/api/user/verify-registration",
        "/api/user/action",
        "/api/user/bulk",
        "/api/user/comment/" + UNKNOWN_ID,
        "/api/user/consent",
        "/api/user/family",
        "/api/user/recent-login",
        "/api/user/two-factor/" + UNKNOWN_ID,
        "/api/user/not-a-uuid",
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_unserved_fusionauth_user_paths_are_404_with_an_empty_body(
    api_client, world, locked_key, path, method
):
    before = db_state()
    body = {"user": {"email": "x@example.com", "password": "a long passphrase"}, "loginId": "ann@example.com"}
    for key in (locked_key, ""):
        response = getattr(api_client, method)(path, body, format="json", HTTP_AUTHORIZATION=key)
        assert (response.status_code, response.content) == (404, b""), (method, path)
    assert db_state() == before


def test_user_ids_still_reach_the_user_api(api_client, world, locked_key):
    response = api_client.get(f"/api/user/{world.user.pk}", HTTP_AUTHORIZATION=locked_key)
    assert response.status_code == 200 and response.json()["user"]["email"] == "ann@example.com"


def test_import_bodies_beyond_the_import_limit_are_413(api_client, world, locked_key, monkeypatch):
    monkeypatch.setattr("identity.views.user_import.MAX_IMPORT_BODY_BYTES", 1000)
    before = db_state()
    body = {"users": [_user(f"user{i}@example.com") for i in range(20)]}
    response = _post(api_client, "/api/user/import", locked_key, body)
    assert response.status_code == 413 and response.json()["generalErrors"][0]["code"] == "[tooLarge]"
    assert db_state() == before


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [("users=1", "application/x-www-form-urlencoded", 415), ("{not json", "application/json", 400),
     ("", "application/json", 400), ("[]", "application/json", 400)],
)  # fmt: skip
def test_import_bodies_that_are_not_a_json_object(
    api_client, world, locked_key, content, content_type, status
):
    before = db_state()
    response = api_client.post("/api/user/import", content, content_type=content_type,
                               HTTP_AUTHORIZATION=locked_key)  # fmt: skip
    assert response.status_code == status
    assert db_state() == before


@pytest.mark.parametrize("path", ["/api/group", "/api/lambda/" + UNKNOWN_ID, "/api/system/version",
                                  "/oauth2/device_authorize", "/api/two-factor/login"])  # fmt: skip
def test_other_unserved_fusionauth_apis_are_404_with_an_empty_body(api_client, world, locked_key, path):
    for method in ("get", "post", "delete"):
        response = getattr(api_client, method)(path, {}, format="json", HTTP_AUTHORIZATION=locked_key)
        assert (response.status_code, response.content) == (404, b""), (method, path)


def test_pages_outside_the_apis_keep_djangos_404(client, db):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.content
