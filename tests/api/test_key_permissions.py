"""API key endpoint permissions: our resources nested under FusionAuth's are endpoints of their own."""

from __future__ import annotations

import pytest

from tests.api.helpers import db_state
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("held", "method", "path", "body", "allowed"),
    [
        # Our resources nested under FusionAuth's are endpoints of their own.
        ({"/api/user": ["GET", "POST", "DELETE"]}, "post", "/api/user/{user}/access-token", {}, False),
        ({"/api/user": ["GET", "POST", "DELETE"]}, "get", "/api/user/{user}/access-token", None, False),
        ({"/api/user/access-token": ["GET"]}, "get", "/api/user/{user}/access-token", None, True),
        (
            {"/api/application": ["POST", "GET"]},
            "post",
            "/api/application/{app}/oauth-configuration/client-secret",
            {},
            False,
        ),
        ({"/api/application": ["GET"]}, "get", "/api/application/{app}/login-backend", None, False),
        (
            {"/api/application/login-backend": ["GET"]},
            "get",
            "/api/application/{app}/login-backend",
            None,
            True,
        ),
        # FusionAuth's own nested routes stay under their parent's name.
        ({"/api/application": ["GET"]}, "get", "/api/application/{app}/oauth-configuration", None, True),
        ({"/api/user": ["GET"]}, "get", "/api/user/{user}", None, True),
    ],
)
def test_a_permission_to_provision_is_not_a_permission_to_mint_credentials(
    api_client, world, held, method, path, body, allowed
) -> None:
    """A key allowed to create users must not mint a user's unlimited PAT (an outside probe did),
    nor one allowed to change applications read a new client secret."""
    _, key = make_api_key(tenant=world.tenant, permissions=held)
    url = path.format(user=world.user.pk, app=world.application.pk)
    before = db_state()
    response = getattr(api_client, method)(url, body, format="json", HTTP_AUTHORIZATION=key)
    if allowed:
        assert response.status_code == 200, response.content
    else:
        assert (response.status_code, response.content) == (401, b"")
        assert db_state() == before
