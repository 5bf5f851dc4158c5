"""The gunicorn fixture serves the test database with production settings."""

from __future__ import annotations

import pytest

from tests.conftest import World


@pytest.mark.django_db(transaction=True)
def test_a_gunicorn_server_logs_in_a_user_the_test_created(gunicorn, world: World) -> None:
    server = gunicorn(workers=2)
    answer = server.request(
        "POST",
        "/api/login",
        json_body={
            "loginId": world.user.email,
            "password": world.password,
            "applicationId": str(world.application.pk),
        },
        headers={"Authorization": world.api_key},
    )
    assert answer.status == 200, server.log_tail()
    assert answer.json()["token"].count(".") == 2
