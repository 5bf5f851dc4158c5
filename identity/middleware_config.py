"""Configuration and path matching of identity.middleware (the "REST API Token Authorization
Worksheet"), kept apart so any Django project can use it: this module imports nothing from the
identity models, services or database.

One settings dict, `IDENTITY_TOKEN_AUTHORIZATION`, holds every field. `config_read()` parses and
checks it; the same problems are a Django system check (`token_authorization_check`) and an
ImproperlyConfigured when the middleware is built, so a bad configuration stops `manage.py check`,
`runserver` and gunicorn's workers at start, never the first request.

Paths are Ant-style patterns matched against the path Django routes on (`request.path_info`):
`?` one character, `*` any characters inside one segment, `**` any number of whole segments.
Because a web server, a proxy and Django's resolver may each read a path differently, a request is
matched in several readings (as sent; percent-decoded until stable; with `.`/`..` resolved;
repeated and trailing slashes removed; cut at `?`, `#` or `;`; backslashes as slashes), and
protected patterns ignore case as a Django route written `(?i)` does. It is protected when any
reading matches a protected pattern and it is not the case that every reading matches an
exclusion: no spelling of a protected path escapes, and an exclusion never widens through a
look-alike.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Critical

SETTING = "IDENTITY_TOKEN_AUTHORIZATION"
LOCATIONS = ("header", "cookie")
KEY_SOURCES = ("key_store", "hmac", "jwks")
TOKEN_KINDS = ("access", "client")
"""Our tokens' signed kinds (`tkn` header) a resource server may accept: a user's access token, and
an OAuth client's own (client_credentials) token."""
REQUIREMENT_FIELDS = frozenset({"paths", "user", "roles", "scopes"})
CLIENT_CREDENTIALS = "client_credentials"
HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
DEFAULT_INVALID_TOKEN_JSON = '{"error": "invalid_token", "errorMessage": "${errorMessage}"}'  # noqa: S105
PLACEHOLDER = "${errorMessage}"
_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()+,=:@*?-]+")
_TOKEN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
KNOWN_FIELDS = frozenset(
    {
        "enabled",
        "protected_paths",
        "exclude_paths",
        "token_location",
        "token_name",
        "token_scheme",
        "key_source",
        "hmac_secret",
        "hmac_algorithm",
        "hmac_kid",
        "jwks_url",
        "jwks_refetch_interval_seconds",
        "jwks_max_age_seconds",
        "jwks_timeout_seconds",
        "issuer",
        "audience",
        "refresh_interval_ms",
        "expiration_ms",
        "invalid_token_json",
        "leeway_seconds",
        "token_kinds",
        "path_requirements",
        "cookie_secure",
        "cache_seconds",
    }
)


class ConfigError(ValueError):
    """One problem with the settings dict; the message names the field."""


def compile_pattern(pattern: Any, *, ignore_case: bool = False) -> re.Pattern[str]:
    """An Ant-style pattern as an anchored regular expression. Refuses what could be read two ways:
    no leading slash, empty segments (`//`), `.` or `..` segments, `**` mixed into a segment,
    percent signs, whitespace and characters outside RFC 3986's path set. `ignore_case` (protected
    patterns) compiles with Python's own IGNORECASE, the rule a Django route written `(?i)` routes
    by: upper-case letters in the pattern, and U+0131, U+0130, U+017F, U+212A in a path (dotless i,
    dotted I, long s, Kelvin sign), match as Django does."""
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise ConfigError(f"pattern {pattern!r} must be a string starting with '/'")
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    if pattern == "/":
        return re.compile(r"/\Z", flags)
    parts = [r"\A"]
    for segment in pattern[1:].split("/"):
        if segment == "**":
            parts.append(r"(?:/[^/]+)*")
            continue
        if not segment or segment in (".", "..") or "**" in segment or not _SEGMENT.fullmatch(segment):
            raise ConfigError(f"pattern {pattern!r} is malformed at segment {segment!r}")
        translated = "".join(
            "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in segment
        )
        parts.append("/" + translated)
    parts.append(r"/?\Z")
    return re.compile("".join(parts), flags)


def path_readings(path: str) -> set[str]:
    """Every reading of a request path a server or router might route on (see the module doc)."""
    readings = {path}
    decoded = path
    for _ in range(5):  # a few rounds of percent-decoding; more is an attack, and read as such too
        once = unquote(decoded, errors="replace")
        if once == decoded:
            break
        decoded = once
        readings.add(decoded)
    for reading in list(readings):
        cleaned = reading.replace("\\", "/").replace("\x00", "")
        cut = re.split(r"[?#;]", cleaned, maxsplit=1)[0]
        for candidate in (cleaned, cut):
            collapsed = re.sub(r"/{2,}", "/", "/" + candidate.lstrip("/"))
            normal = posixpath.normpath(collapsed)
            normal = "/" + normal.lstrip("/") if normal != "." else "/"
            readings.update({collapsed, normal, collapsed.rstrip("/") or "/", normal.rstrip("/") or "/"})
    return readings


@dataclass(frozen=True)
class Requirement:
    """What a token must also hold on some paths (`path_requirements`): be a user's token (not an
    OAuth client's own), hold at least one of `roles`, hold every one of `scopes`."""

    patterns: tuple[re.Pattern[str], ...]
    user: bool = False
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()

    def unmet(self, claims: dict[str, Any]) -> str | None:
        """Why the claims do not satisfy this requirement, None when they do."""
        if (self.user or self.roles) and not speaks_for_a_user(claims):
            return "This path needs a user's token, not a client's."
        if self.roles:
            held = claims.get("roles")
            names = {r for r in held if isinstance(r, str)} if isinstance(held, list) else set()
            if not self.roles.intersection(names):
                return f"This path needs one of the roles: {', '.join(sorted(self.roles))}."
        if self.scopes:
            granted = claims.get("scope")
            if not isinstance(granted, str) or not self.scopes.issubset(granted.split()):
                return f"This path needs the scopes: {' '.join(sorted(self.scopes))}."
        return None


def speaks_for_a_user(claims: dict[str, Any]) -> bool:
    """A user's token, not a client's own: our client-credentials tokens carry `gty:
    client_credentials` and `sub` = `client_id` (RFC 9068 §2.2), other issuers' usually too."""
    if claims.get("gty") == CLIENT_CREDENTIALS:
        return False
    subject = claims.get("sub")
    return isinstance(subject, str) and bool(subject) and subject != claims.get("client_id")


@dataclass(frozen=True)
class Decision:
    protected: bool
    requirements: tuple[Requirement, ...] = ()
    """Every requirement whose patterns match some reading of the path: all must be met."""


UNPROTECTED = Decision(protected=False)


@dataclass(frozen=True)
class PathRules:
    protected: tuple[re.Pattern[str], ...]
    excluded: tuple[re.Pattern[str], ...]
    requirements: tuple[Requirement, ...] = ()
    _memo: dict[str, Decision] = field(default_factory=dict, repr=False, compare=False)
    """Answers per path already seen (bounded: emptied when full; paths come from clients)."""

    MEMO_SIZE: ClassVar[int] = 8192

    def protects(self, path: str) -> bool:
        return self.decide(path).protected

    def decide(self, path: str) -> Decision:
        known = self._memo.get(path)
        if known is not None:
            return known
        answer = self._decide(path)
        if len(self._memo) >= self.MEMO_SIZE:
            self._memo.clear()
        self._memo[path] = answer
        return answer

    def _decide(self, path: str) -> Decision:
        readings = path_readings(path)
        # Protected and requirement patterns ignore case as Python's re does (compile_pattern). A
        # requirement applies when any reading matches, exclusions or not: a path with a rule of
        # its own always needs a token that meets it.
        required = tuple(
            q for q in self.requirements if any(p.match(r) for p in q.patterns for r in readings)
        )
        if required:
            return Decision(protected=True, requirements=required)
        if not any(p.match(r) for p in self.protected for r in readings):
            return UNPROTECTED
        if self.excluded and all(any(p.match(r) for p in self.excluded) for r in readings):
            return UNPROTECTED
        return Decision(protected=True)


@dataclass(frozen=True)
class TokenAuthorizationConfig:
    enabled: bool
    rules: PathRules
    header_key: str
    """The token header's WSGI `META` key (`HTTP_AUTHORIZATION`): read directly, cheaper than
    `request.headers`."""
    token_location: str
    token_name: str
    token_scheme: str
    key_source: str
    issuer: str | None
    audience: str | tuple[str, ...] | None
    refresh_interval_ms: int
    expiration_ms: int
    invalid_token_json: str
    leeway_seconds: int
    token_kinds: tuple[str, ...] | None
    """The `tkn` kinds accepted; None: any (tokens of another issuer carry none)."""
    cookie_secure: bool
    hmac_secret: bytes = b""
    hmac_algorithm: str = "HS256"
    hmac_kid: str = ""
    jwks_url: str = ""
    jwks_refetch_interval_seconds: float = 60.0
    jwks_max_age_seconds: float = 3600.0
    jwks_timeout_seconds: float = 5.0
    cache_seconds: float = 60.0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def in_cookie(self) -> bool:
        return self.token_location == LOCATIONS[1]

    def error_body(self, message: str) -> bytes:
        """The invalid-token template with the message substituted, JSON-escaped."""
        escaped = json.dumps(message, ensure_ascii=True)[1:-1]
        return self.invalid_token_json.replace(PLACEHOLDER, escaped).encode("utf-8")


def _int(raw: dict[str, Any], name: str, default: int, *, minimum: int = 0) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer of at least {minimum}")
    return value


def _number(raw: dict[str, Any], name: str, default: float, *, minimum: float) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{name} must be a number of at least {minimum}")
    return float(value)


def _patterns(
    raw: dict[str, Any], name: str, default: list[str], *, ignore_case: bool = True
) -> tuple[re.Pattern[str], ...]:
    value = raw.get(name, default)
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{name} must be a list of patterns")
    compiled = []
    for pattern in value:
        try:
            compiled.append(compile_pattern(pattern, ignore_case=ignore_case))
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from exc
    return tuple(compiled)


def _names(value: Any, what: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{what} must be a non-empty list of names")
    if not all(isinstance(v, str) and v and v.isprintable() and " " not in v for v in value):
        raise ConfigError(f"{what} must be a non-empty list of names")
    return frozenset(value)


def _requirements(raw: dict[str, Any]) -> tuple[Requirement, ...]:
    value = raw.get("path_requirements", [])
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError("path_requirements must be a list of {paths, user, roles, scopes}")
    parsed = []
    for index, item in enumerate(value):
        where = f"path_requirements[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be a dict of paths, user, roles, scopes")
        unknown = sorted(set(item) - REQUIREMENT_FIELDS)
        if unknown:
            raise ConfigError(f"{where}: unknown field(s): {', '.join(map(str, unknown))}")
        if "paths" not in item or not item["paths"]:
            raise ConfigError(f"{where} needs paths, a non-empty list of patterns")
        try:
            patterns = _patterns(item, "paths", [])
        except ConfigError as exc:
            raise ConfigError(f"{where}.{exc}") from exc
        user = item.get("user", False)
        if not isinstance(user, bool):
            raise ConfigError(f"{where}.user must be true or false")
        roles = _names(item["roles"], f"{where}.roles") if "roles" in item else frozenset()
        scopes = _names(item["scopes"], f"{where}.scopes") if "scopes" in item else frozenset()
        if not (user or roles or scopes):
            raise ConfigError(f"{where} requires nothing: give user, roles or scopes")
        parsed.append(Requirement(patterns=patterns, user=user, roles=roles, scopes=scopes))
    return tuple(parsed)


def _token_kinds(raw: dict[str, Any], source: str) -> tuple[str, ...] | None:
    if "token_kinds" not in raw:
        return None if source == "hmac" else (TOKEN_KINDS[0],)
    value = raw["token_kinds"]
    if value is None:
        if source == "key_store":
            raise ConfigError("token_kinds null (any issuer's tokens) is for hmac and jwks, not key_store")
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"token_kinds must be a non-empty list of {', '.join(TOKEN_KINDS)}, or null")
    unknown = sorted(set(map(str, value)) - set(TOKEN_KINDS))
    if unknown or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"token_kinds must be a non-empty list of {', '.join(TOKEN_KINDS)}, or null")
    return tuple(dict.fromkeys(value))


def _optional_str(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{name} must be a non-empty string or absent")
    return value


def config_parse(raw: Any) -> TokenAuthorizationConfig:
    """The settings dict as a checked configuration; ConfigError names the first problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{SETTING} must be a dict")
    unknown = sorted(set(raw) - KNOWN_FIELDS)
    if unknown:
        raise ConfigError(f"unknown field(s): {', '.join(map(str, unknown))}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("enabled must be true or false")
    protected = _patterns(raw, "protected_paths", ["/**"])
    excluded = _patterns(raw, "exclude_paths", [], ignore_case=False)  # an exclusion never widens
    location = raw.get("token_location", "header")
    if location not in LOCATIONS:
        raise ConfigError(f"token_location must be one of {', '.join(LOCATIONS)}, not {location!r}")
    token_name = raw.get("token_name", "Authorization" if location == "header" else "access_token")
    if not isinstance(token_name, str) or not _TOKEN_NAME.fullmatch(token_name):
        raise ConfigError("token_name must be a header or cookie name (RFC 7230 token)")
    scheme = raw.get("token_scheme", "Bearer" if location == "header" else "")
    if not isinstance(scheme, str) or (scheme and not _TOKEN_NAME.fullmatch(scheme)):
        raise ConfigError("token_scheme must be a scheme name such as 'Bearer', or ''")
    issuer = _optional_str(raw, "issuer")
    audience = raw.get("audience")
    if isinstance(audience, list | tuple):
        if not audience or not all(isinstance(a, str) and a for a in audience):
            raise ConfigError("audience must be a non-empty string, a list of them, or absent")
        audience = tuple(audience)
    elif audience is not None and (not isinstance(audience, str) or not audience):
        raise ConfigError("audience must be a non-empty string, a list of them, or absent")
    template = raw.get("invalid_token_json", DEFAULT_INVALID_TOKEN_JSON)
    if not isinstance(template, str):
        raise ConfigError("invalid_token_json must be a string")
    try:
        json.loads(template.replace(PLACEHOLDER, 'a \\" \\\\ message'))
    except ValueError as exc:
        raise ConfigError(
            f"invalid_token_json is not JSON once ${{errorMessage}} is filled in: {exc}"
        ) from exc
    source = raw.get("key_source")
    if source is None:
        raise ConfigError(f"key_source is required: one of {', '.join(KEY_SOURCES)}")
    if source not in KEY_SOURCES:
        raise ConfigError(f"key_source must be one of {', '.join(KEY_SOURCES)}, not {source!r}")
    extra: dict[str, Any] = {}
    if source == "hmac":
        algorithm = raw.get("hmac_algorithm", "HS256")
        if algorithm not in HMAC_MIN_BYTES:
            raise ConfigError(f"hmac_algorithm must be one of {', '.join(HMAC_MIN_BYTES)}")
        secret = raw.get("hmac_secret")
        secret_bytes = secret.encode("utf-8") if isinstance(secret, str) else secret
        if not isinstance(secret_bytes, bytes) or not secret_bytes:
            raise ConfigError("key_source 'hmac' needs hmac_secret")
        if len(secret_bytes) < HMAC_MIN_BYTES[algorithm]:
            raise ConfigError(
                f"hmac_secret is {len(secret_bytes)} bytes; {algorithm} needs at least "
                f"{HMAC_MIN_BYTES[algorithm]} (the hash's length, RFC 7518 §3.2)"
            )
        kid = raw.get("hmac_kid", "")
        if not isinstance(kid, str):
            raise ConfigError("hmac_kid must be a string")
        extra.update(hmac_secret=secret_bytes, hmac_algorithm=algorithm, hmac_kid=kid)
    elif source == "jwks":
        url = raw.get("jwks_url")
        if not isinstance(url, str) or not re.match(r"https?://[^\s/]+/\S*\Z", url):
            raise ConfigError("key_source 'jwks' needs jwks_url, an http(s) URL")
        extra.update(
            jwks_url=url,
            jwks_refetch_interval_seconds=_number(raw, "jwks_refetch_interval_seconds", 60, minimum=1),
            jwks_max_age_seconds=_number(raw, "jwks_max_age_seconds", 3600, minimum=60),
            jwks_timeout_seconds=_number(raw, "jwks_timeout_seconds", 5, minimum=0.1),
        )
    elif not apps.is_installed("identity"):
        raise ConfigError("key_source 'key_store' needs the identity app in INSTALLED_APPS")
    refresh = _int(raw, "refresh_interval_ms", 0)
    expiration = _int(raw, "expiration_ms", 1_800_000, minimum=1000)
    if refresh and refresh >= expiration:
        raise ConfigError("refresh_interval_ms must be shorter than expiration_ms")
    if refresh and source == "jwks":
        raise ConfigError("refresh_interval_ms needs a key that can sign: key_store or hmac, not jwks")
    if "cookie_secure" in raw and not isinstance(raw["cookie_secure"], bool):
        raise ConfigError("cookie_secure must be true or false")
    token_kinds = _token_kinds(raw, source)
    requirements = _requirements(raw)
    return TokenAuthorizationConfig(
        enabled=enabled,
        rules=PathRules(protected=protected, excluded=excluded, requirements=requirements),
        header_key="HTTP_" + token_name.upper().replace("-", "_"),
        token_location=location,
        token_name=token_name,
        token_scheme=scheme,
        key_source=source,
        issuer=issuer,
        audience=audience,
        refresh_interval_ms=refresh,
        expiration_ms=expiration,
        invalid_token_json=template,
        leeway_seconds=_int(raw, "leeway_seconds", 5),
        cache_seconds=_number(raw, "cache_seconds", 60, minimum=0),
        token_kinds=token_kinds,
        # As the login backends' cookies: Secure always outside debug; `cookie_secure: false` only
        # lets a development server on plain http keep its refreshed cookie.
        cookie_secure=raw.get("cookie_secure", True) or not settings.DEBUG,
        raw=raw,
        **extra,
    )


def config_read() -> TokenAuthorizationConfig | None:
    """The project's configuration, None when the setting is absent."""
    raw = getattr(settings, SETTING, None)
    return None if raw is None else config_parse(raw)


MIDDLEWARE_PATH = "identity.middleware.TokenAuthorizationMiddleware"


def token_authorization_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """System check: the settings dict parses (registered by identity.checks and by
    identity.middleware_app for projects without the identity app). The middleware listed without
    the setting is refused too: it would otherwise drop out silently and protect nothing (a
    misspelt setting name); `"enabled": False` is how to switch it off."""
    try:
        config = config_read()
    except ConfigError as exc:
        return [Critical(f"{SETTING}: {exc}", id="identity.E010")]
    if config is None and MIDDLEWARE_PATH in getattr(settings, "MIDDLEWARE", ()):
        return [
            Critical(
                f"{SETTING}: missing, but {MIDDLEWARE_PATH} is in MIDDLEWARE (it would protect nothing)",
                hint=f'Set {SETTING}, or {{"enabled": False, "key_source": "hmac", ...}} to switch it off.',
                id="identity.E010",
            )
        ]
    return []
