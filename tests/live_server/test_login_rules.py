"""Who may log in and how guessing is limited, driven against real gunicorn workers (issue 18:
High 2, High 3, Medium 4, Medium 7 and the dead-token logout). Each rule is one service that every
path calls, so each test goes through a different door and expects the same answer."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone

from identity.models import RefreshToken, User
from identity.services.identity_providers import external_jwt_provider_create
from identity.services.signing_keys import signing_key_import
from identity.services.tenants import tenant_update
from identity.services.users import user_update
from tests.conftest import World
from tests.live import world_login

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a brand new passphrase 7"


def _login(server, world: World, password: str | None = None, **extra):
    return world_login(server, world, password=password, **extra)


def _change_password(server, world: World, current: str, new: str = NEW_PASSWORD, anonymous: bool = False):
    headers = {"X-FusionAuth-TenantId": str(world.tenant.pk)}
    if not anonymous:
        headers["Authorization"] = world.api_key
    body = {"loginId": world.user.email, "currentPassword": current, "password": new}
    return server.request("POST", "/api/user/change-password", json_body=body, headers=headers)


def _counters(world: World) -> tuple[int, bool]:
    user = User.objects.get(pk=world.user.pk)
    return user.failed_login_count, user.is_locked(timezone.now())


def _lock(world: World) -> None:
    User.objects.filter(pk=world.user.pk).update(locked_until=timezone.now() + timedelta(minutes=5))


# --- High 2: change-password is no anonymous, unlimited password oracle -----------------------


def test_change_password_needs_what_login_needs(gunicorn, world: World) -> None:
    server = gunicorn(workers=2)
    anonymous = _change_password(server, world, world.password, anonymous=True)
    assert (anonymous.status, anonymous.body) == (401, b""), server.log_tail()
    assert User.objects.get(pk=world.user.pk).check_password(world.password)
    assert _change_password(server, world, world.password).status == 200, server.log_tail()
    assert User.objects.get(pk=world.user.pk).check_password(NEW_PASSWORD)


def test_change_password_failures_count_against_the_login_lockout(gunicorn, world: World) -> None:
    server = gunicorn(workers=2)
    for _ in range(world.tenant.failed_login_max_attempts):
        assert _change_password(server, world, "wrong guess").status == 404, server.log_tail()
    assert _counters(world)[1], "the failures locked the account"
    right = _change_password(server, world, world.password)
    assert right.status == 409 and right.json()["generalErrors"][0]["code"] == "[LoginPreventedException]"
    assert _login(server, world).status == 409  # one policy: the login is locked too
    assert User.objects.get(pk=world.user.pk).check_password(world.password)


def test_change_password_checks_the_new_password_before_the_current_one(gunicorn, world: World) -> None:
    server = gunicorn(workers=2)
    right = _change_password(server, world, world.password, new="short")
    wrong = _change_password(server, world, "wrong guess", new="short")
    assert right.status == wrong.status == 400, server.log_tail()
    assert right.json() == wrong.json() and "password" in right.json()["fieldErrors"]
    assert _counters(world) == (0, False)  # nothing was checked, so nothing was counted
    assert User.objects.get(pk=world.user.pk).check_password(world.password)


# --- High 3: every path that ends in a login applies the login's state checks ------------------


@pytest.fixture
def partner(world: World):
    """An external JWT identity provider of the world's tenant, linked to the world's user."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = signing_key_import(tenant=world.tenant, name="partner", public_key=public, kid="partner-live")
    provider = external_jwt_provider_create(
        tenant=world.tenant, name="Partner", keys=[key], applications=[world.application]
    )

    def reconcile(server):
        now = int(time.time())
        token = jwt.encode(
            {"email": world.user.email, "iat": now, "exp": now + 60},
            private,
            algorithm="ES256",
            headers={"kid": "partner-live"},
        )
        body = {
            "applicationId": str(world.application.pk),
            "identityProviderId": str(provider.pk),
            "data": {"token": token},
        }
        return server.request("POST", "/api/jwt/reconcile", json_body=body)

    return reconcile


def _ping(server, world: World, how: str):
    headers = {"Authorization": world.api_key}
    if how == "path":
        return server.request("PUT", f"/api/login/{world.user.pk}/{world.application.pk}", headers=headers)
    body = {"userId": str(world.user.pk), "applicationId": str(world.application.pk)}
    return server.request("PUT", "/api/login", json_body=body, headers=headers)


@pytest.mark.parametrize(
    ("state", "status"),
    [("locked", 409), ("deactivated", 423), ("expired", 410)],
)
def test_reconcile_and_login_ping_refuse_whom_login_refuses(
    gunicorn, world: World, partner, state: str, status: int
) -> None:
    server = gunicorn(workers=2)
    assert partner(server).status == 200, server.log_tail()  # links the account while it may log in
    if state == "locked":
        _lock(world)
    elif state == "deactivated":
        user_update(user=User.objects.get(pk=world.user.pk), is_active=False)
    else:
        user_update(user=User.objects.get(pk=world.user.pk), expires_at=timezone.now() - timedelta(seconds=1))
    before = User.objects.filter(pk=world.user.pk).values("locked_until", "last_login").get()
    sessions = RefreshToken.objects.count()
    assert _login(server, world).status == status
    for door, answer in (
        ("reconcile", partner(server)),
        ("ping by path", _ping(server, world, "path")),
        ("ping by body", _ping(server, world, "body")),
    ):
        assert answer.status == status, (door, answer.status, server.log_tail())
        assert "token" not in (answer.body.decode() or "")
    assert User.objects.filter(pk=world.user.pk).values("locked_until", "last_login").get() == before
    assert RefreshToken.objects.count() == sessions


def test_ping_and_reconcile_never_reset_the_failure_counter(gunicorn, world: World, partner) -> None:
    server = gunicorn(workers=2)
    for _ in range(3):
        assert _login(server, world, "wrong guess").status == 404
    assert _ping(server, world, "path").status == 200, server.log_tail()
    assert partner(server).status == 200, server.log_tail()
    assert _counters(world) == (3, False)
    assert _login(server, world, "wrong guess").status == 404
    assert _login(server, world, "wrong guess").status == 404
    assert _counters(world)[1], "five failures in the window lock, whatever logged in between"


# --- Medium 4: a lockout slows guessing -------------------------------------------------------


def test_while_locked_the_right_and_a_wrong_password_get_the_same_answer(gunicorn, world: World) -> None:
    server = gunicorn(workers=2)
    _lock(world)
    right, wrong = _login(server, world), _login(server, world, "wrong guess")
    assert (right.status, right.body) == (wrong.status, wrong.body), server.log_tail()
    assert right.status == 409


def test_parallel_guesses_never_overshoot_the_threshold(gunicorn, world: World) -> None:
    tenant_update(tenant=world.tenant, revoke_on_login_prevented=False)
    server = gunicorn(workers=4)
    guesses = 24
    barrier = threading.Barrier(guesses)
    statuses: list[int] = []

    def guess(n: int) -> None:
        barrier.wait()
        statuses.append(_login(server, world, f"wrong guess {n}").status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    checked = statuses.count(404)
    assert len(statuses) == guesses, server.log_tail()
    assert checked == world.tenant.failed_login_max_attempts, sorted(statuses)
    assert statuses.count(409) == guesses - checked
    assert _counters(world)[1]


# --- Medium 7: issue keeps the session and refuses a dead one ----------------------------------


def test_issue_carries_the_session_and_refuses_it_once_revoked(gunicorn, world: World) -> None:
    tenant_update(tenant=world.tenant, validate_checks_state=True)
    server = gunicorn(workers=2)
    session = _login(server, world).json()
    sid = jwt.decode(session["token"], options={"verify_signature": False})["sid"]
    issue_path = f"/api/jwt/issue?applicationId={world.application.pk}"
    bearer = {"Authorization": f"Bearer {session['token']}"}
    issued = server.request("GET", issue_path, headers=bearer)
    assert issued.status == 200, server.log_tail()
    assert jwt.decode(issued.json()["token"], options={"verify_signature": False}).get("sid") == sid
    logout = server.request("POST", "/api/logout", json_body={"refreshToken": session["refreshToken"]})
    assert logout.status == 200
    after = server.request("GET", issue_path, headers=bearer)
    assert (after.status, after.body) == (401, b""), after.body
    # The token issued before the logout carries the session, so validate's state mode ends it too.
    issued_bearer = {"Authorization": f"Bearer {issued.json()['token']}"}
    assert server.request("GET", "/api/jwt/validate", headers=issued_bearer).status == 401


def test_issue_refuses_a_locked_user(gunicorn, world: World) -> None:
    server = gunicorn(workers=2)
    token = _login(server, world).json()["token"]
    _lock(world)
    answer = server.request(
        "GET",
        f"/api/jwt/issue?applicationId={world.application.pk}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status == 401, answer.body


# --- Low: a dead refresh token authorises no logout ---------------------------------------------


@pytest.mark.parametrize("dead", ["revoked", "expired"])
def test_a_dead_refresh_token_ends_no_session(gunicorn, world: World, dead: str) -> None:
    server = gunicorn(workers=2)
    first, second = _login(server, world).json(), _login(server, world).json()
    if dead == "revoked":
        assert (
            server.request("POST", "/api/logout", json_body={"refreshToken": first["refreshToken"]}).status
            == 200
        )
    else:
        RefreshToken.objects.filter(pk=first["refreshTokenId"]).update(expires_at=timezone.now())
    answer = server.request(
        "POST", "/api/logout", json_body={"refreshToken": first["refreshToken"], "global": True}
    )
    assert answer.status == 200
    assert RefreshToken.objects.get(pk=second["refreshTokenId"]).revoked_at is None
