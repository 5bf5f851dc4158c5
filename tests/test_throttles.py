"""identity/throttles.py: budgets per account, per client address (trusted proxies only), per API
key, on the endpoints that take credentials or mint tokens; 429 with Retry-After in FusionAuth's
shape, RFC 6749's on /oauth2/*; a refused request changes nothing."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from identity import throttles
from identity.services.login_backends import login_backend_create
from identity.services.oauth_clients import oauth_client_configure
from identity.throttles import Rate, count_hit, parse_rate
from tests.api.helpers import db_state

pytestmark = pytest.mark.django_db

WRONG = "not the password 1"
NOBODY = "nobody@example.com"  # unknown: no lockout gets in the way of counting


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rates(settings):
    def configure(**values: str) -> None:
        settings.IDENTITY_THROTTLE_RATES = {name.replace("__", "."): rate for name, rate in values.items()}

    return configure


def login(api_client, world, password: str = WRONG, login_id: str = "ann@example.com", **extra):
    return api_client.post(
        "/api/login",
        {"loginId": login_id, "password": password, "applicationId": str(world.application.pk), **extra},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    )


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert response.json() == {
        "generalErrors": [{"code": "[TooManyRequests]", "message": "Too many requests; retry later."}]
    }
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/min", Rate(10, 60)),
        ("1/s", Rate(1, 1)),
        ("5/hour", Rate(5, 3600)),
        ("7/day", Rate(7, 86400)),
        ("off", None),
        ("", None),
        (None, None),
    ],
)
def test_rates_parse(text, rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["10", "0/min", "-1/min", "ten/min", "10/week", "10 / min", 10])
def test_bad_rates_are_a_settings_error(text) -> None:
    with pytest.raises(ImproperlyConfigured):
        parse_rate(text)


def test_a_window_counts_atomically_and_says_when_it_ends() -> None:
    rate = Rate(3, 60)
    assert [count_hit(key="k", rate=rate, now=120.0) for _ in range(3)] == [None, None, None]
    assert count_hit(key="k", rate=rate, now=150.0) == 30.0
    assert count_hit(key="k", rate=rate, now=180.0) is None  # the next window
    assert count_hit(key="other", rate=rate, now=150.0) is None


def test_an_unreachable_cache_lets_requests_through(monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "add", broken)
    assert count_hit(key="k", rate=Rate(1, 60), now=0.0) is None


def test_login_budget_per_account_is_shared_by_every_password_door(api_client, world, rates) -> None:
    """The account's budget counts /api/login, the login backends and change-password alike, by the
    login id's comparison key (case and compatibility forms do not make a new budget)."""
    rates(login__account="3/min")
    login_backend_create(application=world.application, name="portal")
    assert login(api_client, world).status_code == 404
    assert login(api_client, world, login_id="ANN@example.com").status_code == 404
    assert (
        api_client.post("/auth/portal/login", {"username": "ann@example.com", "password": WRONG}).status_code
        == 400
    )
    before = db_state()
    assert_throttled(login(api_client, world, password=world.password))
    assert_throttled(
        api_client.post("/auth/portal/login", {"username": "ann@example.com", "password": world.password})
    )
    assert_throttled(
        api_client.post(
            "/api/user/change-password",
            {"loginId": "ann@example.com", "currentPassword": world.password, "password": "new one 123456"},
            format="json",
        )
    )
    assert db_state() == before  # not even the failure counter moved
    assert login(api_client, world, login_id="someone.else@example.com").status_code == 404


def test_an_api_key_callers_own_address_is_not_counted_but_the_reported_one_is(
    api_client, world, rates
) -> None:
    rates(login__address="2/min")
    for _ in range(4):  # the backend's own address: many users behind one caller
        assert login(api_client, world, login_id=NOBODY).status_code == 404
    assert login(api_client, world, login_id=NOBODY, ipAddress="198.51.100.7").status_code == 404
    assert login(api_client, world, login_id=NOBODY, ipAddress="198.51.100.7").status_code == 404
    assert_throttled(login(api_client, world, login_id=NOBODY, ipAddress="198.51.100.7"))
    assert login(api_client, world, login_id=NOBODY, ipAddress="198.51.100.8").status_code == 404


def test_the_api_key_budget(api_client, world, rates) -> None:
    rates(login__api_key="2/min")
    assert login(api_client, world, login_id=NOBODY).status_code == 404
    assert login(api_client, world, login_id=NOBODY, ipAddress="198.51.100.9").status_code == 404
    assert_throttled(login(api_client, world, login_id=NOBODY, ipAddress="198.51.100.10"))


def refresh(api_client, value: str = "no such token", **headers):
    return api_client.post("/api/jwt/refresh", {"refreshToken": value}, format="json", **headers)


def test_address_budget_believes_x_forwarded_for_only_from_trusted_proxies(
    api_client, rates, settings
) -> None:
    rates(refresh__address="2/min")
    settings.IDENTITY_TRUSTED_PROXY_COUNT = 0
    spoofed = [refresh(api_client, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}") for n in range(3)]
    assert [r.status_code for r in spoofed[:2]] == [400, 400]
    assert_throttled(spoofed[2])  # a forged header makes no new budget
    settings.IDENTITY_TRUSTED_PROXY_COUNT = 1
    assert refresh(api_client, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.50").status_code == 400
    assert refresh(api_client, HTTP_X_FORWARDED_FOR="7.7.7.7, 203.0.113.50").status_code == 400
    assert_throttled(refresh(api_client, HTTP_X_FORWARDED_FOR="8.8.8.8, 203.0.113.50"))


def test_only_the_exchange_of_the_refresh_viewset_is_budgeted(api_client, world, rates) -> None:
    rates(refresh__address="1/min")
    assert refresh(api_client).status_code == 400
    assert_throttled(refresh(api_client))
    listed = api_client.get(f"/api/jwt/refresh?userId={world.user.pk}", HTTP_AUTHORIZATION=world.api_key)
    assert listed.status_code == 200


def test_oauth_endpoints_answer_429_in_rfc_6749_shape(api_client, world, rates) -> None:
    rates(oauth__address="2/min")
    secret = oauth_client_configure(application=world.application).client_secret
    form = urlencode(
        {"grant_type": "client_credentials", "client_id": str(world.application.pk), "client_secret": secret}
    )
    answers = [
        api_client.generic("POST", path, form, content_type="application/x-www-form-urlencoded")
        for path in ("/oauth2/token", "/connect/token", "/oauth2/token")
    ]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    throttled = answers[2]
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "slow_down" and 1 <= int(throttled["Retry-After"]) <= 60
    assert throttled["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("scope", "method", "path", "body"),
    [
        ("pat", "post", "/api/jwt/exchange", {"subject_token": "x", "subject_token_type": "y"}),
        ("reconcile", "post", "/api/jwt/reconcile", {}),
    ],
)
def test_anonymous_token_endpoints_have_an_address_budget(
    api_client, rates, scope, method, path, body
) -> None:
    rates(**{f"{scope}__address": "1/min"})
    first = getattr(api_client, method)(path, body, format="json")
    assert first.status_code != 429
    assert_throttled(getattr(api_client, method)(path, body, format="json"))


def test_import_has_an_api_key_budget_and_still_reads_its_own_body(api_client, world, rates) -> None:
    """The import reads its body itself (64 MB limit): the throttle must not have consumed it."""
    from tests.api.test_user_import_api import _user

    rates(import__api_key="1/min", import__address="5/min")
    body = {"users": [_user("imp@example.com", ipAddress="198.51.100.1")]}
    headers = {"HTTP_AUTHORIZATION": world.api_key, "HTTP_X_FUSIONAUTH_TENANTID": str(world.tenant.pk)}
    first = api_client.post("/api/user/import", body, format="json", **headers)
    assert first.status_code == 200, first.content
    before = db_state()
    second = {"users": [_user("imp2@example.com")]}
    assert_throttled(api_client.post("/api/user/import", second, format="json", **headers))
    assert db_state() == before


def test_unbudgeted_endpoints_are_never_throttled(api_client, world, rates) -> None:
    rates(**{f"{s}__{d}": "1/min" for s in ("login", "refresh", "oauth") for d in ("address", "api_key")})
    for _ in range(3):
        assert api_client.get("/api/status").status_code == 200
        assert api_client.get("/.well-known/jwks.json").status_code == 200


@pytest.mark.parametrize(
    ("text", "expected", "remembered"),
    [
        (" 127.0.0.1 ", "127.0.0.1", 1),
        ("2001:DB8::0:1", "2001:db8::1", 1),
        ("not an address", None, 1),
        ("1" * 200, None, 0),
        ("::1%" + "z" * 100, "::1%" + "z" * 100, 0),
    ],
    ids=["ipv4-padded", "ipv6-canonical", "words", "long", "long-zone"],
)
def test_addresses_are_normalised_and_only_short_texts_remembered(text, expected, remembered):
    throttles._normalized_address.cache_clear()
    assert throttles._address(text) == expected
    assert throttles._address(text) == expected
    assert throttles._normalized_address.cache_info().currsize == remembered
