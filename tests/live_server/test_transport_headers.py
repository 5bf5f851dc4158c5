"""Responses carrying secrets are never stored by a cache (Cache-Control: no-store). Driven against
a real gunicorn server."""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db(transaction=True)


def test_responses_carrying_secrets_are_not_stored(gunicorn, world: World) -> None:
    _, manager = make_api_key(name="manager", key_manager=True)
    server = gunicorn(workers=1)
    headers = {"Authorization": manager, "X-FusionAuth-TenantId": str(world.tenant.pk)}
    calls = [
        ("POST", "/api/api-key", {"apiKey": {"name": "ci"}}, "key"),
        ("POST", "/api/key/generate", {"key": {"algorithm": "HS256", "name": "h"}}, "secret"),
        ("GET", f"/api/user/{world.user.pk}", None, "user"),
        ("GET", f"/api/user?email={world.user.email}", None, "user"),
    ]
    for method, path, body, member in calls:
        answer = server.request(method, path, json_body=body, headers=headers)
        assert answer.status == 200, (path, answer.body, server.log_tail())
        assert member in str(answer.json()), answer.body
        assert "no-store" in answer.headers.get("Cache-Control", ""), (path, answer.headers)
