"""Login identifiers compare by one key (NFKC + case fold, look-alikes refused) on every path, and a
unique violation is a `[duplicate]` field error, never a 500. Driven against a real gunicorn server."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.helpers import db_state
from tests.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)

KELVIN = "\u212a"  # KELVIN SIGN, NFKC and PostgreSQL LOWER() make it "k"


def test_look_alike_identifiers_neither_register_nor_capture(gunicorn, world: World) -> None:
    server = gunicorn(workers=2)
    key = {"Authorization": world.api_key, "X-FusionAuth-TenantId": str(world.tenant.pk)}
    refused = [
        ({"email": f"{KELVIN}im@example.com", "password": "a long passphrase"}, "user.email", "[invalid]"),
        ({"email": "\uff4bim@example.com", "password": "a long passphrase"}, "user.email", "[invalid]"),
        ({"email": "ANN@example.com", "password": "a long passphrase"}, "user.email", "[duplicate]"),
        ({"email": "\ufb01@example.com"}, "user.email", "[invalid]"),
        ({"email": "bob@example.com", "username": f"{KELVIN}im"}, "user.username", "[invalid]"),
        ({"email": "bob@example.com", "username": "ANN"}, "user.username", "[duplicate]"),
    ]
    for user, field, code in refused:
        before = db_state()
        answer = server.request("POST", "/api/user", json_body={"user": user}, headers=key)
        assert answer.status == 400, (user, answer.status, answer.body, server.log_tail())
        assert answer.json()["fieldErrors"][field][0]["code"] == f"{code}{field}", answer.body
        assert db_state() == before, user

    # The real address registers; look-alike lookups find it (same key), never another account.
    answer = server.request(
        "POST",
        "/api/user",
        json_body={"user": {"email": "kim@example.com", "password": "a long passphrase"}},
        headers=key,
    )
    assert answer.status == 200, answer.body
    kim = answer.json()["user"]["id"]
    for typed in ("kim@example.com", "KIM@Example.com", f"{KELVIN}im@example.com"):
        found = server.request("GET", f"/api/user?email={quote(typed)}", headers=key)
        assert found.status == 200 and found.json()["user"]["id"] == kim, (typed, found.body)
    login = server.request(
        "POST",
        "/api/login",
        json_body={"loginId": "Kim@EXAMPLE.com", "password": "a long passphrase"},
        headers=key,
    )
    assert login.status in (200, 202), login.body
    assert login.json()["user"]["id"] == kim
    changed = server.request(
        "POST",
        "/api/user/change-password",
        json_body={
            "loginId": f"{KELVIN}IM@example.com",
            "currentPassword": "a long passphrase",
            "password": "another long passphrase",
        },
        headers=key,
    )
    assert changed.status == 200, (changed.status, changed.body)
    login = server.request(
        "POST",
        "/api/login",
        json_body={"loginId": "kim@example.com", "password": "another long passphrase"},
        headers=key,
    )
    assert login.status in (200, 202) and login.json()["user"]["id"] == kim, login.body
