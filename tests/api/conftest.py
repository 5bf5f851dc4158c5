from __future__ import annotations

import pytest


@pytest.fixture
def session(api_client, world) -> dict:
    """A login of the world's user: its response body (token, refreshToken, refreshTokenId, user);
    the client's cookies are cleared so each test says what it sends."""
    body = api_client.post(
        "/api/login",
        {
            "loginId": "ann@example.com",
            "password": world.password,
            "applicationId": str(world.application.pk),
        },
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    ).json()
    api_client.cookies.clear()
    return body
