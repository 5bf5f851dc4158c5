"""The gunicorn fixture serves the test database with production settings."""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.live import world_login


@pytest.mark.django_db(transaction=True)
def test_a_gunicorn_server_logs_in_a_user_the_test_created(gunicorn, world: World) -> None:
    server = gunicorn(workers=2)
    answer = world_login(server, world)
    assert answer.status == 200, server.log_tail()
    assert answer.json()["token"].count(".") == 2
