"""identity.middleware_config: Ant patterns, path readings that must not bypass, and the settings
dict refused at start (system check and middleware construction)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from identity.middleware import TokenAuthorizationMiddleware
from identity.middleware_config import ConfigError, PathRules, compile_pattern, config_parse

SECRET = "s" * 32
RULES = PathRules(
    protected=tuple(
        compile_pattern(p, ignore_case=True) for p in ["/api/*/items", "/reports/**/*.pdf", "/admin/**"]
    ),
    excluded=tuple(compile_pattern(p) for p in ["/public/**", "/api/open/items"]),
)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/**", "/", True),
        ("/**", "/anything/at/all", True),
        ("/api/*/items", "/api/books/items", True),
        ("/api/*/items", "/api/items", False),
        ("/api/*/items", "/api/a/b/items", False),
        ("/reports/**/*.pdf", "/reports/a.pdf", True),
        ("/reports/**/*.pdf", "/reports/2024/q1/a.pdf", True),
        ("/reports/**/*.pdf", "/reports/2024/a.txt", False),
        ("/a?c", "/abc", True),
        ("/a?c", "/a/c", False),
        ("/api/**", "/api", True),
        ("/api/**", "/apix", False),
    ],
)
def test_ant_patterns(pattern: str, path: str, matches: bool) -> None:
    assert bool(compile_pattern(pattern).match(path)) is matches


@pytest.mark.parametrize(
    "path",
    [
        "/api/books/items",
        "/api/books/items/",
        "/api/books/items//",
        "//api/books/items",
        "/api//books/items",
        "/api/books//items",
        "/API/books/ITEMS",
        "/Api/Books/Items/",
        "/api%2Fbooks%2Fitems",
        "/api%252Fbooks%252Fitems",
        "/api/books%2Fitems",
        "/api/books/items%2F",
        "/api/books/%69tems",
        "/public/../api/books/items",
        "/public/%2e%2e/api/books/items",
        "/public/%2E%2E%2Fapi/books/items",
        "/public/..%2Fapi/books/items",
        "/public/..\\api/books/items",
        "/api/open/../books/items",
        "/api/./books/./items",
        "/api/books/items;jsessionid=x",
        "/api/books/items%3Fq=1",
        "/api/books/items%23frag",
        "/api\\books\\items",
        "/api/books/items\x00",
        "/reports/2024/q1/summary.pdf",
        "/reports/summary.PDF",
        "/reports/x/../summary.pdf",
        "/admin",
        "/admin/",
        "/ADMIN/users",
        "/public/../admin/users",
        "/public/../../admin",
        # Letters Python's re (and so a Django route written `(?i)`) takes for ASCII ones
        "/ap\u0131/books/items",
        "/ap\u0130/books/ITEMS",
        "/ap%C4%B1/books/items",
        "/adm%C4%B1n/x",
        "/ADM\u0130N/users",
        "/report\u017f/x.pdf",
        "/admin/%E2%84%AAey",
    ],
)
def test_no_spelling_of_a_protected_path_escapes(path: str) -> None:
    assert RULES.protects(path)


@pytest.mark.parametrize("path", ["/admin/x", "/ADMIN/x", "/Admin/x", "/adm%C4%B1n/x"])
def test_upper_case_in_a_protected_pattern_still_protects_every_case(path: str) -> None:
    """`"/Admin/**"` protected only `/Admin/…`: the readings were lower-cased, the pattern not."""
    config = config_parse({"protected_paths": ["/Admin/**"], "key_source": "hmac", "hmac_secret": SECRET})
    assert config.rules.protects(path)


def test_a_path_requirement_ignores_case_as_the_router_does() -> None:
    config = config_parse(
        {
            "protected_paths": ["/api/**"],
            "key_source": "hmac",
            "hmac_secret": SECRET,
            "path_requirements": [{"paths": ["/Admin/**"], "roles": ["admin"]}],
        }
    )
    for path in ("/admin/x", "/adm%C4%B1n/x", "/ADM\u0130N/x"):
        decision = config.rules.decide(path)
        assert decision.protected and decision.requirements, path


def test_an_exclusion_stays_exact() -> None:
    """Exclusions never widen through case: `/public/**` excludes `/public/x` only."""
    config = config_parse(
        {
            "protected_paths": ["/**"],
            "exclude_paths": ["/public/**"],
            "key_source": "hmac",
            "hmac_secret": SECRET,
        }
    )
    assert not config.rules.protects("/public/x")
    assert config.rules.protects("/PUBLIC/x") and config.rules.protects("/publ\u0131c/x")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/public/admin",
        "/public/api/books/items",
        "/api/open/items",
        "/api/books/other",
        "/reports/a.txt",
    ],
)
def test_unprotected_and_excluded_paths(path: str) -> None:
    assert not RULES.protects(path)


@pytest.mark.parametrize(
    "pattern",
    ["api/**", "", "/api//items", "/api/../x", "/api/./x", "/a**", "/**x/y", "/api/***", "/a b", "/a%2Fb",
     "/a{id}", "/a[0]", None, 7, "/tab\t"],
)  # fmt: skip
def test_malformed_patterns_are_refused(pattern: Any) -> None:
    with pytest.raises(ConfigError):
        compile_pattern(pattern)


GOOD = {"key_source": "hmac", "hmac_secret": SECRET}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"token_location": "query"}, "token_location"),
        ({"protected_paths": ["api/**"]}, "protected_paths"),
        ({"protected_paths": "/api/**"}, "protected_paths"),
        ({"exclude_paths": ["/x/**y"]}, "exclude_paths"),
        ({"key_source": None}, "key_source is required"),
        ({"key_source": "magic"}, "key_source must be one of"),
        ({"hmac_secret": None}, "needs hmac_secret"),
        ({"hmac_secret": "s" * 31}, "needs at least 32"),
        ({"hmac_secret": "s" * 47, "hmac_algorithm": "HS384"}, "needs at least 48"),
        ({"hmac_secret": "s" * 63, "hmac_algorithm": "HS512"}, "needs at least 64"),
        ({"hmac_algorithm": "none"}, "hmac_algorithm"),
        ({"key_source": "jwks"}, "needs jwks_url"),
        ({"key_source": "jwks", "jwks_url": "file:///etc/passwd"}, "needs jwks_url"),
        ({"key_source": "jwks", "jwks_url": "https://id/x", "refresh_interval_ms": 1000}, "can sign"),
        ({"refresh_interval_ms": 60_000, "expiration_ms": 60_000}, "shorter than"),
        ({"refresh_interval_ms": -1}, "refresh_interval_ms"),
        ({"expiration_ms": "1800000"}, "expiration_ms"),
        ({"invalid_token_json": '{"error": ${errorMessage}}'}, "not JSON"),
        ({"invalid_token_json": "{'a': 1}"}, "not JSON"),
        ({"token_name": "Bad Name"}, "token_name"),
        ({"enabled": "yes"}, "enabled"),
        ({"audience": ""}, "audience"),
        ({"issuer": 5}, "issuer"),
        ({"protected_path": ["/**"]}, "unknown field"),
    ],
)
def test_bad_configuration_fails_the_system_check_and_the_start(
    settings, change: dict[str, Any], message: str
) -> None:
    raw = {**GOOD, **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        config_parse(raw)
    settings.IDENTITY_TOKEN_AUTHORIZATION = raw
    problems = [m for m in run_checks() if m.id == "identity.E010"]
    assert len(problems) == 1 and message.split()[0] in problems[0].msg
    with pytest.raises(ImproperlyConfigured, match=message):
        TokenAuthorizationMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]


def test_the_key_store_needs_the_identity_app(monkeypatch) -> None:
    from identity import middleware_config

    monkeypatch.setattr(middleware_config.apps, "is_installed", lambda name: name != "identity")
    with pytest.raises(ConfigError, match="identity app"):
        config_parse({"key_source": "key_store"})


def test_the_demo_configuration_passes(settings) -> None:
    assert [m for m in run_checks() if m.id == "identity.E010"] == []
    config = config_parse(settings.IDENTITY_TOKEN_AUTHORIZATION)
    assert config.rules.protects("/demo/api/hello") and not config.rules.protects("/api/login")


@pytest.mark.parametrize("message", ['say "hi"', "back\\slash", "line\nbreak", "</script>", "ünï"])
def test_the_error_message_is_json_escaped(message: str) -> None:
    import json

    config = config_parse(
        {**GOOD, "invalid_token_json": '{"code": 401, "msg": "${errorMessage}", "x": ["${errorMessage}"]}'}
    )
    assert json.loads(config.error_body(message)) == {"code": 401, "msg": message, "x": [message]}


def test_the_middleware_without_its_setting_fails_the_check(settings) -> None:
    """Listed in MIDDLEWARE with the setting absent (say, misspelt), it would drop out and protect
    nothing: the start is refused instead."""
    del settings.IDENTITY_TOKEN_AUTHORIZATION
    problems = [m for m in run_checks() if m.id == "identity.E010"]
    assert len(problems) == 1 and "missing" in problems[0].msg
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "TokenAuthorization" not in m]
    assert [m for m in run_checks() if m.id == "identity.E010"] == []
