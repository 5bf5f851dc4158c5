"""Two independent nodes (two gunicorn masters on different ports, no shared memory) on one
PostgreSQL, with and without one Redis (issue 16, "Many nodes"; issue 17): what node A adds is
usable on node B at once; a key removed, a PAT or access token revoked, a tenant setting changed
through A is honoured by B within a second; throttles count across both nodes (Redis); one-time
refresh tokens are used once across both nodes under concurrency.

The two servers are started once per mode and shared by every test of the module (the tests'
`world` rows are committed and flushed around each test; the coherence versions are not flushed,
so they only move forward): starting servers is most of what live tests cost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from identity.services.api_keys import api_key_create
from identity.services.oauth_clients import oauth_client_configure
from tests import live
from tests.conftest import World
from tests.live import LiveServer, world_login
from tests.live_server.test_key_coherence import kid_of, login, validate
from tests.redis_db import redis_url

# The check interval (1 s) plus the time one request takes on a loaded test machine.
REMOVAL_BOUND_SECONDS = 1.5
REDIS_DB = redis_url(3)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Nodes:
    mode: str
    a: LiveServer
    b: LiveServer


@pytest.fixture(scope="module", params=["database", "redis"])
def nodes(request, django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Nodes]:  # type: ignore[no-untyped-def]
    """Nodes A and B, two workers each, started side by side once per mode for the whole module."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("gunicorn servers share the database only on PostgreSQL (.ci/run uses it)")
    env: dict[str, str] = {}
    if request.param == "redis":
        redis = pytest.importorskip("redis")
        try:
            redis.Redis.from_url(REDIS_DB).flushdb()
        except redis.ConnectionError:
            pytest.skip("no Redis on 127.0.0.1:6379")
        env = {"REDIS_URL": REDIS_DB}
    log_dir = tmp_path_factory.mktemp(f"two-nodes-{request.param}")
    with django_db_blocker.unblock(), ThreadPoolExecutor(max_workers=2) as pool:
        started = list(pool.map(lambda _: live.start(workers=2, env=env, log_dir=log_dir), range(2)))
    try:
        yield Nodes(request.param, *started)
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def two(nodes: Nodes, settings, request) -> tuple[Nodes, World]:  # type: ignore[no-untyped-def]
    """The nodes and a fresh `world`, made after this process shares the nodes' cache (Redis mode),
    so what the test process itself changes bumps the version the nodes read."""
    if nodes.mode == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_DB,
                "KEY_PREFIX": "identity",
            }
        }
        settings.IDENTITY_COHERENCE_CACHE = True
    return nodes, request.getfixturevalue("world")


def _api(server: LiveServer, world: World, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": world.api_key, "X-FusionAuth-TenantId": str(world.tenant.pk)}
    answer = server.request(method, path, json_body=body, headers=headers)
    assert answer.status == 200, (answer.status, answer.body, server.log_tail())
    return answer.json() if answer.body else None


def _generate(server: LiveServer, world: World, name: str) -> dict[str, Any]:
    body = {"key": {"algorithm": "ES256", "name": name}}
    return dict(_api(server, world, "POST", "/api/key/generate", body)["key"])


def _patch_tenant(server: LiveServer, world: World, jwt_configuration: dict[str, Any]) -> None:
    body = {"tenant": {"jwtConfiguration": jwt_configuration}}
    _api(server, world, "PATCH", f"/api/tenant/{world.tenant.pk}", body)


def _warm(server: LiveServer, token: str) -> None:
    """Every worker of the node has validated the token (fresh connections reach either)."""
    assert all(validate(server, token) == 200 for _ in range(8))


def _seconds_until(refused: Callable[[], bool], since: float) -> float:
    """Seconds until a node refuses on every worker: the start of the first run of 12 requests in
    a row (fresh connections, so they reach either worker) that are all refused."""
    while True:
        started = time.monotonic() - since
        if all(refused() for _ in range(12)):
            return started
        assert started < 5, "still accepted after 5 s"
        time.sleep(0.02)


def _seconds_until_refused(server: LiveServer, token: str, since: float) -> float:
    """Seconds until the node refuses the token on every worker (_seconds_until)."""
    return _seconds_until(lambda: validate(server, token) == 401, since)


def test_a_key_added_on_one_node_is_usable_on_the_other_at_once(two):
    """A token signed by a key added through A validates on B at once; B's own logins sign with
    it within a second (B's workers remember the tenant row naming the signer until the key
    store's channel moves, as they remember the keys)."""
    (nodes, world) = two
    a, b = nodes.a, nodes.b
    for _ in range(4):  # every worker of both nodes holds a snapshot
        assert validate(b, login(a, world)["token"]) == 200
        assert validate(a, login(b, world)["token"]) == 200
    for _ in range(3):  # rotate the tenant's signer through A, three times
        key = _generate(a, world, "new")
        _patch_tenant(a, world, {"accessTokenKeyId": key["id"]})
        switched = time.monotonic()
        for _ in range(6):
            assert validate(a, login(b, world)["token"]) == 200
            assert validate(b, login(a, world)["token"]) == 200
        kid = key["kid"]
        signs_new = _seconds_until(lambda: kid_of(login(b, world)["token"]) == kid, switched)  # noqa: B023
        assert signs_new < REMOVAL_BOUND_SECONDS
        vended = _api(a, world, "POST", "/api/jwt/vend", {"keyId": key["id"], "claims": {"svc": 1}})
        assert validate(b, vended["token"]) == 200
    if nodes.mode == "redis":  # the version really travelled through Redis
        import redis

        assert redis.Redis.from_url(REDIS_DB).exists("identity:1:identity:coherence:keys")


def test_a_key_deleted_on_one_node_stops_verifying_on_the_other_within_a_second(two):
    (nodes, world) = two
    a, b = nodes.a, nodes.b
    key = _generate(a, world, "spare")
    token = _api(a, world, "POST", "/api/jwt/vend", {"keyId": key["id"], "claims": {"svc": 1}})["token"]
    _warm(b, token)
    _api(a, world, "DELETE", f"/api/key/{key['id']}")
    assert _seconds_until_refused(b, token, time.monotonic()) < REMOVAL_BOUND_SECONDS


def test_a_pat_revoked_on_one_node_is_refused_by_the_other_within_a_second(two):
    (nodes, world) = two
    a, b = nodes.a, nodes.b
    created = _api(
        a,
        world,
        "POST",
        f"/api/user/{world.user.pk}/access-token",
        {"name": "ci", "JWTTokenExpiry": "Unlimited"},
    )
    token, record = created["JWTToken"], created["accessToken"]
    _warm(b, token)
    _api(a, world, "DELETE", f"/api/user/{world.user.pk}/access-token/{record['id']}")
    assert _seconds_until_refused(b, token, time.monotonic()) < REMOVAL_BOUND_SECONDS


def test_an_access_token_revoked_on_one_node_is_refused_by_the_other_within_a_second(two):
    (nodes, world) = two
    a, b = nodes.a, nodes.b
    configured = oauth_client_configure(application=world.application, scopes=["read"])
    body = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": str(world.application.pk),
            "client_secret": configured.client_secret,
        }
    )
    issued = b.request("POST", "/oauth2/token", body=body, headers=FORM)
    assert issued.status == 200, (issued.body, b.log_tail())
    token = issued.json()["access_token"]
    _warm(b, token)
    credentials = f"{body}&token={token}"
    assert a.request("POST", "/oauth2/revoke", body=credentials, headers=FORM).status == 200
    assert _seconds_until_refused(b, token, time.monotonic()) < REMOVAL_BOUND_SECONDS


def test_a_tenant_setting_changed_on_one_node_is_honoured_by_the_other_within_a_second(two):
    """validateChecksState switched on through A: B refuses the access token of an ended session
    (which it accepted while the setting was off, as FusionAuth does) within a second."""
    (nodes, world) = two
    a, b = nodes.a, nodes.b
    session = login(a, world)
    ended = a.request("POST", "/api/logout", json_body={"refreshToken": session["refreshToken"]})
    assert ended.status == 200, ended.body
    _warm(b, session["token"])
    _patch_tenant(a, world, {"validateChecksState": True})
    assert _seconds_until_refused(b, session["token"], time.monotonic()) < REMOVAL_BOUND_SECONDS


def test_a_tenant_deleted_on_one_node_stops_verifying_on_the_other_within_a_second(two):
    (nodes, world) = two
    a, b = nodes.a, nodes.b
    token = login(a, world)["token"]
    _warm(b, token)
    _api(a, world, "DELETE", f"/api/tenant/{world.tenant.pk}")
    assert _seconds_until_refused(b, token, time.monotonic()) < REMOVAL_BOUND_SECONDS


def test_an_api_key_deleted_on_one_node_is_refused_by_the_other_within_a_second(two):
    """Every worker of B has authenticated with the key (and remembers it, identity.selectors.rows);
    deleted through A, it is refused by B within a second."""
    (nodes, world) = two
    a, b = nodes.a, nodes.b
    key, raw = api_key_create(tenant=None, name="doomed")
    with_key = {"Authorization": raw}
    assert all(world_login(b, world, headers=with_key).status == 200 for _ in range(8))
    manager = {"Authorization": api_key_create(tenant=None, name="manager", key_manager=True)[1]}
    deleted = a.request("DELETE", f"/api/api-key/{key.pk}", headers=manager)
    assert deleted.status == 200, (deleted.body, a.log_tail())
    refused = _seconds_until(lambda: world_login(b, world, headers=with_key).status == 401, time.monotonic())
    assert refused < REMOVAL_BOUND_SECONDS


def test_an_application_deactivated_on_one_node_refuses_logins_on_the_other_within_a_second(two):
    """B's workers remember the application a login names (identity.selectors.application_get);
    deactivated through A, B refuses logins to it within a second."""
    (nodes, world) = two
    a, b = nodes.a, nodes.b
    assert all(world_login(b, world).status == 200 for _ in range(8))
    _api(a, world, "DELETE", f"/api/application/{world.application.pk}")
    refused = _seconds_until(lambda: world_login(b, world).status == 400, time.monotonic())
    assert refused < REMOVAL_BOUND_SECONDS


def test_a_client_throttle_counts_requests_to_both_nodes(two):
    (nodes, world) = two
    if nodes.mode != "redis":
        pytest.skip("without REDIS_URL each process counts alone (README, OAuth2 token endpoint)")
    limit = 6
    configured = oauth_client_configure(application=world.application, token_requests_per_minute=limit)
    body = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": str(world.application.pk),
            "client_secret": configured.client_secret,
        }
    )
    if time.time() % 60 > 57:  # the window is a clock minute: 12 requests take well under 3 s
        time.sleep(61 - time.time() % 60)
    statuses = [
        (nodes.a if i % 2 else nodes.b).request("POST", "/oauth2/token", body=body, headers=FORM).status
        for i in range(2 * limit)
    ]
    assert sorted(statuses) == [200] * limit + [429] * limit, statuses
    assert statuses[:limit] == [200] * limit  # in order: the first `limit`, wherever they landed


def test_twenty_parallel_refreshes_of_one_value_split_over_both_nodes_give_one_success(two):
    """OneTimeUse set through A; 20 uses of one value released together, 10 to each node: exactly
    one rotates it, the other 19 are refused (and, as reuse, revoke the family)."""
    (nodes, world) = two
    _patch_tenant(nodes.a, world, {"refreshTokenUsagePolicy": "OneTimeUse"})
    value = login(nodes.b, world)["refreshToken"]
    parallel = 20
    barrier = threading.Barrier(parallel)

    def attempt(index: int) -> tuple[int, Any]:
        server = nodes.a if index % 2 else nodes.b
        barrier.wait(timeout=10)
        answer = server.request("POST", "/api/jwt/refresh", json_body={"refreshToken": value})
        return answer.status, answer.json() if answer.status == 200 else None

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        results = list(pool.map(attempt, range(parallel)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * (parallel - 1), statuses
    (winner,) = [body for status, body in results if status == 200]
    assert winner["refreshToken"] != value
    # The losers presented a rotated value: reuse, so the whole family is revoked, winner included.
    again = nodes.a.request("POST", "/api/jwt/refresh", json_body={"refreshToken": winner["refreshToken"]})
    assert again.status == 400
