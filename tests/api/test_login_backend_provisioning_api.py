"""Provisioning login backends: `/api/application/{id}/login-backend[/{backendId}]` (ours; the
shape of the role endpoints). Every refused request leaves the database as it was."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from identity.models import LoginBackend
from identity.services.applications import application_create
from identity.services.login_backends import login_backend_create
from tests.api.helpers import db_state
from tests.factories import TenantFactory, make_api_key

pytestmark = pytest.mark.django_db


def _url(world: Any, backend_id: Any = None, application: Any = None) -> str:
    base = f"/api/application/{(application or world.application).pk}/login-backend"
    return base if backend_id is None else f"{base}/{backend_id}"


def _call(api_client, world, method: str, url: str, body: Any = None, key: str | None = None) -> Any:
    send = getattr(api_client, method)
    kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": key or world.api_key}
    if body is not None:
        kwargs.update(data=body, format="json")
    return send(url, **kwargs)


def test_create_with_defaults_then_log_in_through_it(api_client, client, world) -> None:
    answer = _call(api_client, world, "post", _url(world), {"loginBackend": {}})
    assert answer.status_code == 200, answer.json()
    backend = answer.json()["loginBackend"]
    assert backend == {
        "id": backend["id"], "applicationId": str(world.application.pk), "name": "jwt", "transport": "bearer",
        "lifetimeSeconds": 3600, "cookieName": "fastapiusersauth", "cookieDomain": "", "cookiePath": "/",
        "cookieSecure": True, "cookieSameSite": "lax", "insertInstant": backend["insertInstant"],
        "lastUpdateInstant": backend["lastUpdateInstant"],
    }  # fmt: skip
    login = client.post("/auth/jwt/login", {"username": "ann@example.com", "password": world.password})
    assert login.status_code == 200 and login.json()["token_type"] == "bearer"


def test_create_with_an_id_list_retrieve_update_delete(api_client, client, world) -> None:
    chosen = uuid.uuid4()
    body = {"loginBackend": {"name": "web", "transport": "cookie", "lifetimeSeconds": 900,
                             "cookieName": "session", "cookieSameSite": "strict"}}  # fmt: skip
    created = _call(api_client, world, "post", _url(world, chosen), body)
    assert created.status_code == 200 and created.json()["loginBackend"]["id"] == str(chosen)
    listed = _call(api_client, world, "get", _url(world)).json()["loginBackends"]
    assert [b["name"] for b in listed] == ["web"]
    retrieved = _call(api_client, world, "get", _url(world, chosen)).json()["loginBackend"]
    assert retrieved["cookieName"] == "session"

    patched = _call(api_client, world, "patch", _url(world, chosen), {"loginBackend": {"name": "portal"}})
    assert patched.status_code == 200
    assert patched.json()["loginBackend"] | {"lastUpdateInstant": 0} == created.json()["loginBackend"] | {
        "name": "portal", "lastUpdateInstant": 0}  # fmt: skip
    form = {"username": "ann@example.com", "password": world.password}
    assert client.post("/auth/web/login", form).status_code == 404  # a rename moves the path at once
    login = client.post("/auth/portal/login", form)
    assert login.status_code == 204 and login.cookies["session"]["samesite"] == "Strict"

    put = _call(api_client, world, "put", _url(world, chosen), {"loginBackend": {"transport": "bearer"}})
    assert put.json()["loginBackend"]["transport"] == "bearer"
    assert put.json()["loginBackend"]["cookieName"] == "session"  # PUT changes only what it sends

    assert _call(api_client, world, "delete", _url(world, chosen)).status_code == 200
    assert not LoginBackend.objects.exists()
    assert client.post("/auth/portal/login", form).status_code == 404
    assert _call(api_client, world, "get", _url(world, chosen)).status_code == 404


def test_changes_are_audited(api_client, world) -> None:
    from identity.models import AuditEntry

    created = _call(api_client, world, "post", _url(world), {"loginBackend": {"name": "a"}}).json()
    backend_id = created["loginBackend"]["id"]
    _call(api_client, world, "patch", _url(world, backend_id), {"loginBackend": {"lifetimeSeconds": 60}})
    _call(api_client, world, "delete", _url(world, backend_id))
    entries = AuditEntry.objects.filter(object_id=backend_id).order_by("created_at", "id")
    actions = [e.action for e in entries]
    assert actions == ["login_backend.create", "login_backend.update", "login_backend.delete"]
    assert entries[1].diff == {"lifetime_seconds": [3600, 60]}
    assert all(e.tenant_id == world.tenant.pk for e in entries)


HOSTILE: list[tuple[dict[str, Any], str]] = [
    ({"name": "two words"}, "loginBackend.name"),
    ({"name": "café"}, "loginBackend.name"),  # not a path segment the login route accepts
    ({"name": "a/b"}, "loginBackend.name"),
    ({"name": "../x"}, "loginBackend.name"),
    ({"name": "a" * 65}, "loginBackend.name"),
    ({"name": "nul\x00"}, "loginBackend.name"),
    ({"name": ""}, "loginBackend.name"),
    ({"name": None}, "loginBackend.name"),
    ({"name": 7}, "loginBackend.name"),
    ({"name": "taken"}, "loginBackend.name"),
    ({"transport": "carrier-pigeon"}, "loginBackend.transport"),
    ({"transport": ["bearer"]}, "loginBackend.transport"),
    ({"lifetimeSeconds": 0}, "loginBackend.lifetimeSeconds"),
    ({"lifetimeSeconds": -5}, "loginBackend.lifetimeSeconds"),
    ({"lifetimeSeconds": "60"}, "loginBackend.lifetimeSeconds"),
    ({"lifetimeSeconds": 60.0}, "loginBackend.lifetimeSeconds"),
    ({"lifetimeSeconds": True}, "loginBackend.lifetimeSeconds"),
    ({"lifetimeSeconds": 2**63}, "loginBackend.lifetimeSeconds"),
    ({"cookieSameSite": "none", "cookieSecure": False}, "loginBackend.cookieSameSite"),
    ({"cookieSameSite": "sometimes"}, "loginBackend.cookieSameSite"),
    ({"cookieSecure": "yes"}, "loginBackend.cookieSecure"),
    ({"cookieName": "a;b"}, "loginBackend.cookieName"),
    ({"cookieName": "a=b"}, "loginBackend.cookieName"),
    ({"cookieName": ""}, "loginBackend.cookieName"),
    ({"cookieName": "a\r\nSet-Cookie: x=y"}, "loginBackend.cookieName"),
    ({"cookiePath": "relative"}, "loginBackend.cookiePath"),
    ({"cookiePath": "/a;Domain=evil.example"}, "loginBackend.cookiePath"),
    ({"cookiePath": "/ä"}, "loginBackend.cookiePath"),
    ({"cookieDomain": "a b"}, "loginBackend.cookieDomain"),
    ({"cookieDomain": "évil.example"}, "loginBackend.cookieDomain"),
    ({"cookieDomain": "example.com/path"}, "loginBackend.cookieDomain"),
    ({"cookieDomain": "example.com;Secure"}, "loginBackend.cookieDomain"),
]


@pytest.fixture
def taken(world) -> LoginBackend:
    return login_backend_create(application=world.application, name="taken")


@pytest.mark.parametrize(("member", "path"), HOSTILE)
def test_hostile_creates_change_nothing(api_client, world, taken, member: dict[str, Any], path: str) -> None:
    before = db_state()
    answer = _call(api_client, world, "post", _url(world), {"loginBackend": {"name": "fresh", **member}})
    assert answer.status_code == 400, answer.content
    assert path in answer.json()["fieldErrors"], answer.json()
    assert db_state() == before


@pytest.mark.parametrize(("member", "path"), [h for h in HOSTILE if h[0].get("name") != "taken"])
def test_hostile_updates_change_nothing(api_client, world, taken, member: dict[str, Any], path: str) -> None:
    other = login_backend_create(application=world.application, name="other")
    before = db_state()
    for method in ("put", "patch"):
        answer = _call(api_client, world, method, _url(world, other.pk), {"loginBackend": member})
        assert answer.status_code == 400, answer.content
        assert path in answer.json()["fieldErrors"], answer.json()
    assert db_state() == before


def test_a_lax_cookie_cannot_be_made_samesite_none_without_secure(api_client, world) -> None:
    backend = login_backend_create(application=world.application, name="c", cookie_secure=False)
    before = db_state()
    body = {"loginBackend": {"cookieSameSite": "none"}}
    answer = _call(api_client, world, "patch", _url(world, backend.pk), body)
    assert answer.status_code == 400 and "loginBackend.cookieSameSite" in answer.json()["fieldErrors"]
    assert db_state() == before


@pytest.mark.parametrize(
    "body", [None, {}, {"loginBackend": None}, {"loginBackend": []}, {"loginBackend": "jwt"}, [1, 2], "x"]
)
def test_malformed_envelopes_change_nothing(api_client, world, body: Any) -> None:
    before = db_state()
    answer = api_client.post(_url(world), body, format="json", HTTP_AUTHORIZATION=world.api_key)
    assert answer.status_code == 400
    assert db_state() == before


def test_a_taken_id_is_refused(api_client, world, taken) -> None:
    before = db_state()
    answer = _call(api_client, world, "post", _url(world, taken.pk), {"loginBackend": {"name": "fresh"}})
    assert answer.status_code == 400 and "loginBackendId" in answer.json()["fieldErrors"]
    assert db_state() == before


def test_addresses_that_name_nothing_are_404_and_change_nothing(api_client, world, taken) -> None:
    other_app = application_create(tenant=world.tenant, name="Other")
    before = db_state()
    for method in ("get", "put", "patch", "delete"):
        body = {"loginBackend": {"name": "x"}} if method in ("put", "patch") else None
        for url in (
            _url(world, uuid.uuid4()),
            _url(world, "not-a-uuid"),
            _url(world, taken.pk, application=other_app),  # another application's path
            f"/api/application/{uuid.uuid4()}/login-backend/{taken.pk}",
        ):
            assert _call(api_client, world, method, url, body).status_code == 404, (method, url)
    assert _call(api_client, world, "post", f"/api/application/{uuid.uuid4()}/login-backend",
                 {"loginBackend": {}}).status_code == 404  # fmt: skip
    assert db_state() == before


def test_a_key_of_another_tenant_sees_nothing(api_client, world, taken) -> None:
    _, foreign_key = make_api_key(tenant=TenantFactory())
    before = db_state()
    assert _call(api_client, world, "get", _url(world), key=foreign_key).status_code == 404
    assert _call(api_client, world, "post", _url(world), {"loginBackend": {"name": "x"}},
                 key=foreign_key).status_code == 404  # fmt: skip
    assert _call(api_client, world, "delete", _url(world, taken.pk), key=foreign_key).status_code == 404
    assert db_state() == before


def test_without_an_api_key_nothing_is_answered(api_client, world, taken) -> None:
    before = db_state()
    assert api_client.get(_url(world)).status_code == 401
    assert api_client.post(_url(world), {"loginBackend": {"name": "x"}}, format="json").status_code == 401
    assert api_client.delete(_url(world, taken.pk)).status_code == 401
    assert db_state() == before
