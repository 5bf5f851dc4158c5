"""A server-side error answers a generic body; the detail goes to the log only. Driven against a
real gunicorn server (DEBUG off)."""

from __future__ import annotations

import pytest

from identity.exception_handler import SERVER_ERROR_BODY
from identity.models import Tenant
from tests.conftest import World
from tests.live import world_login

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_missing_signing_key_is_a_generic_500_with_the_detail_in_the_log(gunicorn, world: World) -> None:
    Tenant.objects.filter(pk=world.tenant.pk).update(access_token_signing_key=None)
    server = gunicorn(workers=1)
    answer = world_login(server, world)
    assert answer.status == 500, answer.body
    assert answer.json() == SERVER_ERROR_BODY
    assert b"manage.py" not in answer.body and b"signing" not in answer.body.lower()
    assert answer.headers.get("Content-Type", "").startswith("application/json")
    assert "SigningKeyMissing" in server.log_tail(80)
