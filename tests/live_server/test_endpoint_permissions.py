"""API-key endpoint permissions name endpoints exactly, as FusionAuth does, on a real deployment."""

from __future__ import annotations

import pytest

from tests.api.helpers import db_state
from tests.conftest import World
from tests.factories import make_api_key


@pytest.mark.django_db(transaction=True)
def test_a_permission_for_an_endpoint_reaches_no_other_endpoint_below_it(gunicorn, world: World) -> None:
    """`/api/user` covers `/api/user` and `/api/user/{id}`, not `/api/user/registration` nor
    `/api/user/change-password`, which are endpoints of their own."""
    _, limited = make_api_key(tenant=world.tenant, permissions={"/api/user": ["GET", "POST"]})
    server = gunicorn(workers=1)
    headers = {"Authorization": limited}

    own = server.request("GET", f"/api/user/{world.user.pk}", headers=headers)
    assert own.status == 200, server.log_tail()
    assert server.request("GET", f"/api/user?email={world.user.email}", headers=headers).status == 200

    before = db_state()
    registration = server.request(
        "POST",
        "/api/user/registration",
        json_body={
            "user": {"email": "new@example.com", "password": "a long passphrase"},
            "registration": {"applicationId": str(world.application.pk)},
        },
        headers=headers,
    )
    assert (registration.status, registration.body) == (401, b""), server.log_tail()
    password = server.request(
        "POST",
        "/api/user/change-password",
        json_body={"loginId": world.user.email, "currentPassword": world.password, "password": "x" * 20},
        headers=headers,
    )
    assert (password.status, password.body) == (401, b""), server.log_tail()
    assert db_state() == before
