"""Throttles against gunicorn with two workers sharing one budget through Redis (issue 15): a
budget is spent once, whichever worker answers (the access log names the worker of each answer,
and both answer), and a throttled answer is a 429 with Retry-After, in FusionAuth's shape on its
paths and RFC 6749's on /oauth2/*, that changes nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest

from identity.services.login_backends import login_backend_create
from identity.services.oauth_clients import oauth_client_configure
from tests.api.helpers import db_state
from tests.conftest import World
from tests.live import LiveServer, Response, world_login
from tests.redis_db import redis_url

BUDGET = 4
FUSIONAUTH_429 = {
    "generalErrors": [{"code": "[TooManyRequests]", "message": "Too many requests; retry later."}]
}


@pytest.fixture
def redis_env(tmp_path: Path) -> dict[str, str]:
    redis = pytest.importorskip("redis")
    url = redis_url(5)
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    access_log = tmp_path / "access.log"
    return {
        "REDIS_URL": url,
        # Each answer's worker (pid), status and path, to show both workers drew on one budget.
        "GUNICORN_CMD_ARGS": f"--access-logfile={access_log} --access-logformat='%(p)s %(s)s %(U)s'",
    }


def answered(env: dict[str, str], paths: set[str]) -> list[tuple[str, str]]:
    """(worker pid, status) of each answer on `paths`, in the order the access log has them."""
    log = Path(env["GUNICORN_CMD_ARGS"].split()[0].removeprefix("--access-logfile="))
    lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return [(pid, status) for pid, status, path in lines if path in paths]


def both_workers_up(server: LiveServer, env: dict[str, str]) -> None:
    """The ready check needs one worker; on a busy machine the second may still be loading, and
    would then never take a request the test counts."""
    deadline = time.monotonic() + 60
    while len({pid for pid, _ in answered(env, {"/api/status"})}) < 2:
        assert time.monotonic() < deadline, "the second worker never answered"
        in_parallel([lambda: server.request("GET", "/api/status")] * 4)


def assert_one_budget(env: dict[str, str], paths: set[str], more: Callable[[], Response]) -> None:
    """Both workers answered, and one of them refused (429) before it had itself let `BUDGET`
    requests through: it counted the other's too (a budget per process would have let it pass).
    While one worker has taken every request so far, `more` are sent (all must be 429)."""
    deadline = time.monotonic() + 60
    while len({pid for pid, _ in answered(env, paths)}) < 2:
        assert time.monotonic() < deadline, answered(env, paths)
        for answer in in_parallel([more] * 4):
            assert answer.status == 429, answer.status
    answers = answered(env, paths)
    passed: dict[str, int] = {}
    for pid, status in answers:
        if status == "429" and passed.get(pid, 0) < BUDGET:
            return
        if status != "429":
            passed[pid] = passed.get(pid, 0) + 1
    raise AssertionError(f"no worker was refused on the other's count: {answers}")


def assert_throttled(answer: Response, *, oauth: bool = False) -> None:
    assert answer.status == 429, (answer.status, answer.body[:200])
    assert 1 <= int(answer.headers["Retry-After"]) <= 3600
    if oauth:
        assert answer.json()["error"] == "slow_down" and answer.headers["Cache-Control"] == "no-store"
    else:
        assert answer.json() == FUSIONAUTH_429


def in_parallel(calls: list) -> list[Response]:
    """Four at a time, so both sync workers are busy answering."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda call: call(), calls))


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_one_account_budget_across_the_login_doors(
    gunicorn, world: World, redis_env
) -> None:
    """/api/login and a login backend's /auth/<name>/login draw on the same per-account budget."""
    login_backend_create(application=world.application, name="portal")
    server: LiveServer = gunicorn(
        workers=2, env={**redis_env, "IDENTITY_THROTTLE_RATES": f"login.account={BUDGET}/hour"}
    )

    def backend_login() -> Response:
        return server.request(
            "POST",
            "/auth/portal/login",
            body=urlencode({"username": world.user.email, "password": world.password}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    both_workers_up(server, redis_env)
    answers = in_parallel(
        [(lambda: world_login(server, world)) if n % 2 else backend_login for n in range(3 * BUDGET)]
    )
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] * BUDGET + [429] * (2 * BUDGET), (statuses, server.log_tail())
    for answer in answers:
        if answer.status == 429:
            assert_throttled(answer)
    assert_one_budget(redis_env, {"/api/login", "/auth/portal/login"}, backend_login)
    before = db_state()
    assert_throttled(world_login(server, world, password="a wrong one 1234"))
    assert db_state() == before  # the refused attempt was not even counted as a failure


@pytest.mark.django_db(transaction=True)
def test_every_budgeted_door_answers_429_in_its_shape_from_either_worker(
    gunicorn, world: World, redis_env
) -> None:
    """Per-address budgets of refresh, token, reconcile and the PAT exchange (anonymous callers
    from 127.0.0.1): of the requests sent four at a time, exactly `BUDGET` get the endpoint's own
    answer and the rest 429, whichever worker answers; nothing changes once throttled."""
    secret = oauth_client_configure(application=world.application).client_secret
    rates = ",".join(f"{scope}.address={BUDGET}/hour" for scope in ("refresh", "oauth", "reconcile", "pat"))
    server: LiveServer = gunicorn(workers=2, env={**redis_env, "IDENTITY_THROTTLE_RATES": rates})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    doors = {
        "/api/jwt/refresh": (
            lambda: server.request("POST", "/api/jwt/refresh", json_body={"refreshToken": "unknown"}),
            400,
        ),
        "/oauth2/token": (
            lambda: server.request(
                "POST",
                "/oauth2/token",
                body=urlencode(
                    {
                        "grant_type": "client_credentials",
                        "client_id": str(world.application.pk),
                        "client_secret": secret,
                    }
                ),
                headers=form,
            ),
            200,
        ),
        "/api/jwt/reconcile": (lambda: server.request("POST", "/api/jwt/reconcile", json_body={}), 400),
        "/api/jwt/exchange": (
            lambda: server.request(
                "POST", "/api/jwt/exchange", json_body={"subject_token": "x", "subject_token_type": "y"}
            ),
            400,
        ),
    }
    both_workers_up(server, redis_env)
    for path, (call, status) in doors.items():
        answers = in_parallel([call] * (3 * BUDGET))
        statuses = sorted(a.status for a in answers)
        assert statuses == sorted([status] * BUDGET + [429] * (2 * BUDGET)), (path, statuses)
        for answer in answers:
            if answer.status == 429:
                assert_throttled(answer, oauth=path.startswith("/oauth2/"))
        assert_one_budget(redis_env, {path}, call)
    before = db_state()
    for path, (call, _) in doors.items():
        assert call().status == 429, path
    assert db_state() == before
