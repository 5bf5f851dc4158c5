"""identity/client_address.py: the client's address from X-Forwarded-For, counting trusted proxies from the
right; anything the client could have written is never believed."""

from __future__ import annotations

import pytest

from identity.client_address import forwarded_client
from identity.models import RefreshToken


@pytest.mark.parametrize(
    ("header", "proxies", "client"),
    [
        ("203.0.113.7", 1, "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7", 1, "203.0.113.7"),
        ("6.6.6.6,203.0.113.7 , 10.0.0.2", 2, "203.0.113.7"),
        ("2001:db8::1", 1, "2001:db8::1"),
        ("6.6.6.6, 203.0.113.7", 0, None),
        ("203.0.113.7", 2, None),
        ("6.6.6.6, not-an-ip", 1, None),
        ("6.6.6.6, ", 1, None),
        ("6.6.6.6, 203.0.113.7:5555", 1, None),
        ("6.6.6.6, 203.0.113.7\x00", 1, None),
        ("", 1, None),
    ],
)
def test_forwarded_client(header: str, proxies: int, client: str | None) -> None:
    assert forwarded_client(header, proxies) == client


LOGIN_PATH = "/api/login"


def _login(api_client, world, **meta: str):  # type: ignore[no-untyped-def]
    return api_client.post(
        LOGIN_PATH,
        {"loginId": world.user.email, "password": world.password, "applicationId": str(world.application.pk)},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
        **meta,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "recorded"),
    [
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (0, "6.6.6.6, 203.0.113.7", "127.0.0.9"),
        (2, "203.0.113.7", "127.0.0.9"),
        (1, "6.6.6.6, junk", "127.0.0.9"),
    ],
)
def test_the_session_records_the_address_the_rule_gives(
    api_client, world, settings, proxies: int, forwarded_for: str, recorded: str
) -> None:
    settings.IDENTITY_TRUSTED_PROXY_COUNT = proxies
    answer = _login(api_client, world, REMOTE_ADDR="127.0.0.9", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert answer.status_code == 200, answer.content
    session = RefreshToken.objects.get(pk=answer.json()["refreshTokenId"])
    assert session.last_accessed_address == recorded
