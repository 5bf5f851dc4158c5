"""The IDENTITY_* settings, each default written once. config/settings.py reads the environment
into these names; code reads them here, uncached, so tests can override them with `settings`."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "IDENTITY_ARGON2_TIME_COST": 2,
    "IDENTITY_ARGON2_MEMORY_KIB": 19_456,
    "IDENTITY_ARGON2_PARALLELISM": 1,
    "IDENTITY_KEY_ENCRYPTION_KEYS_OLD": [],
    # New tenants get a signing key of this algorithm when none is chosen (ES256: small, fast, and
    # supported by JWKS-based verifiers; RS256 where a verifier only knows RSA).
    "IDENTITY_DEFAULT_SIGNING_ALGORITHM": "ES256",
    # Clock skew tolerated on exp/nbf/iat when verifying tokens; keep it small (RFC 8725 §3.10 spirit).
    "IDENTITY_JWT_LEEWAY_SECONDS": 5,
    # Key rotation keeps the old signer trusted for the longest token lifetime plus this margin, for
    # clock skew and tokens minted as the rotation commits.
    "IDENTITY_KEY_ROTATION_MARGIN_SECONDS": 300,
    # Reverse proxies in front of the service that append to X-Forwarded-For (nginx in deploy/ is
    # one). 0: the peer address is the client. config/settings.py makes it 1 behind a TLS proxy.
    "IDENTITY_TRUSTED_PROXY_COUNT": 0,
    # Webhook retries wait base * 2^(attempt-1) seconds, at most the maximum, with jitter.
    "IDENTITY_WEBHOOK_BACKOFF_BASE_SECONDS": 2,
    "IDENTITY_WEBHOOK_BACKOFF_MAX_SECONDS": 3600,
    # Request budgets per "<scope>.<dimension>" (identity/throttles.py): "<n>/<s|min|hour|day>" or
    # "off". Shared by every worker and node with REDIS_URL. Generous: they stop floods and
    # guessing, not traffic; a password login costs a hash whatever the budget.
    "IDENTITY_THROTTLE_RATES": {
        "login.account": "30/min",
        "login.address": "120/min",
        "login.api_key": "6000/min",
        "refresh.address": "600/min",
        "refresh.api_key": "6000/min",
        "oauth.address": "600/min",
        "reconcile.address": "120/min",
        "reconcile.api_key": "6000/min",
        "pat.address": "120/min",
        "pat.api_key": "1200/min",
        "import.api_key": "60/min",
    },
}


def prepared_statements() -> bool:
    """Whether the hot paths' hand-built statements are prepared on PostgreSQL (config/settings.py)."""
    return bool(getattr(settings, "IDENTITY_PREPARED_STATEMENTS", True))


def _get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


def argon2_time_cost() -> int:
    return int(_get("IDENTITY_ARGON2_TIME_COST"))


def argon2_memory_kib() -> int:
    return int(_get("IDENTITY_ARGON2_MEMORY_KIB"))


def argon2_parallelism() -> int:
    return int(_get("IDENTITY_ARGON2_PARALLELISM"))


def key_encryption_keys_old() -> tuple[str, ...]:
    return tuple(_get("IDENTITY_KEY_ENCRYPTION_KEYS_OLD"))


def default_signing_algorithm() -> str:
    return str(_get("IDENTITY_DEFAULT_SIGNING_ALGORITHM"))


def jwt_leeway_seconds() -> int:
    return int(_get("IDENTITY_JWT_LEEWAY_SECONDS"))


def key_rotation_margin_seconds() -> int:
    return int(_get("IDENTITY_KEY_ROTATION_MARGIN_SECONDS"))


def trusted_proxy_count() -> int:
    return int(_get("IDENTITY_TRUSTED_PROXY_COUNT"))


def webhook_backoff_base_seconds() -> float:
    return float(_get("IDENTITY_WEBHOOK_BACKOFF_BASE_SECONDS"))


def webhook_backoff_max_seconds() -> float:
    return float(_get("IDENTITY_WEBHOOK_BACKOFF_MAX_SECONDS"))
