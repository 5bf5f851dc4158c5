"""Django settings for the identity service. Every deployment knob comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_map, env_str, load_env_file
from identity.app_settings import DEFAULTS

BASE_DIR = Path(__file__).resolve().parent.parent
# A git-ignored file of development secrets (`make run` writes it); DJANGO_ENV_FILE points elsewhere.
load_env_file(Path(os.environ.get("DJANGO_ENV_FILE", BASE_DIR / ".env")))

DEBUG = env_bool("DJANGO_DEBUG", default=False)

_secret_key = env_str("DJANGO_SECRET_KEY")
if _secret_key is None:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required unless DJANGO_DEBUG=1.")
    # Debug only: a per-process key, so nothing signed survives a restart and nothing is hard-coded.
    import secrets

    _secret_key = secrets.token_urlsafe(50)
SECRET_KEY = _secret_key

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "identity",
]

MIDDLEWARE = [
    # First: every later layer (and the session's recorded address) sees the client's address.
    "identity.client_address.ForwardedForMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's CSS and JS, the API docs' assets) straight from STATIC_ROOT, with
    # far-future caching of the hashed names; nothing else is served from disk.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sessions, the session's user and messages only on the console's paths (identity/middleware_console.py).
    "identity.middleware_console.ConsoleSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Path protection with our own tokens (IDENTITY_TOKEN_AUTHORIZATION below; README "Protecting paths").
    "identity.middleware.TokenAuthorizationMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "identity.middleware_console.ConsoleAuthenticationMiddleware",
    "identity.audit.AuditContextMiddleware",
    # Django's MessageMiddleware, building its storage only for a request that uses messages.
    "identity.middleware_console.ConsoleMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}") or "",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A health check is a `SELECT 1` round trip before the first query of every request (half
        # of a client-credentials grant's time under py-spy). Without it, a connection that broke
        # (database restarted) fails the one request that meets it and is then discarded by
        # Django at the end of that request, so each worker loses at most one request.
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", False),
    )
}
# A database that does not answer a new connection must not hold a worker until gunicorn kills it:
# the request fails after this long and is answered 503 with Retry-After (identity.exception_handler).
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT_SECONDS", 5)
    )
# Behind PgBouncer in transaction mode a server-side cursor (QuerySet.iterator() on PostgreSQL) may
# outlive the transaction that pinned its server connection: turn them off there (docs/scaling.md).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool(
    "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
)
# The hot paths' hand-built statements (a refresh's SELECT and UPDATE, a login's five, a client
# credentials grant's one, an issue's user read) are prepared once per connection (planning the
# refresh SELECT cost PostgreSQL more than running it; identity/services/refresh_token_sql.py). A
# PgBouncer in transaction mode keeps prepared statements only from 1.21 on, with
# max_prepared_statements > 0: so by default they are off wherever server-side cursors were turned
# off for PgBouncer.
IDENTITY_PREPARED_STATEMENTS = env_bool(
    "DATABASE_PREPARED_STATEMENTS", default=not DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"]
)

# With REDIS_URL, Django's Redis cache is shared by every process of every node; it carries the
# version of in-memory state such as the key store (identity/key_store.py). Without it each process
# has its own memory cache and that version is read from the database, at most once per second.
REDIS_URL = env_str("REDIS_URL")
# A hung Redis must not hang requests: short client timeouts, and identity.shared_cache skips the
# cache for a few seconds after a failure (the database is the fallback of all it holds).
REDIS_TIMEOUT_SECONDS = env_float("REDIS_TIMEOUT_SECONDS", 0.25)
if REDIS_URL:
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "identity",
            "OPTIONS": {
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            },
        }
    }
IDENTITY_COHERENCE_CACHE = bool(REDIS_URL)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = ["identity.backends.ConsoleBackend"]
# The User model's email is unique per tenant, not globally; ConsoleBackend looks staff up in the
# default tenant only, which is what Django's auth.W004 asks us to make sure of.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

# Hashes a migration brings in (POST /api/user/import, manage.py import_users): kept as they are,
# verified on the user's first login, then re-hashed with the first hasher (identity/hashers.py).
IMPORTED_PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "identity.hashers.ImportedBCryptSHA256Hasher",
    "identity.hashers.ImportedBCryptHasher",
    "identity.hashers.FusionAuthPBKDF2SHA256Hasher",
    "identity.hashers.FusionAuthSaltedSHA256Hasher",
]
# Argon2id first: new and re-hashed passwords use it; older hashes still verify and get upgraded.
PASSWORD_HASHERS = ["identity.hashers.Argon2idPasswordHasher", *IMPORTED_PASSWORD_HASHERS]
IDENTITY_ARGON2_TIME_COST = env_int("IDENTITY_ARGON2_TIME_COST", DEFAULTS["IDENTITY_ARGON2_TIME_COST"])
IDENTITY_ARGON2_MEMORY_KIB = env_int("IDENTITY_ARGON2_MEMORY_KIB", DEFAULTS["IDENTITY_ARGON2_MEMORY_KIB"])
IDENTITY_ARGON2_PARALLELISM = env_int("IDENTITY_ARGON2_PARALLELISM", DEFAULTS["IDENTITY_ARGON2_PARALLELISM"])
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` (run by `make serve`) copies, hashes and compresses the files here.
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Content-hashed names (`base.6b517d0d5813.css`) with gzip copies; whitenoise serves them with a
    # ten-year immutable Cache-Control. With DEBUG on, templates use the plain names and runserver
    # serves them.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    # Deny by default: every API view names the authentication and permission it accepts.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["identity.parsers.SafeJSONParser"],
    # DRF's negotiation, with the common cases (no Accept, */*, application/json) answered at once.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "identity.negotiation.FastContentNegotiation",
    "EXCEPTION_HANDLER": "identity.exception_handler.identity_exception_handler",
    # The one throttle class: each view names its budget (`throttle_scope`); identity/throttles.py.
    "DEFAULT_THROTTLE_CLASSES": ["identity.throttles.Throttle"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "identity.openapi.IdentityAutoSchema",
}

# The OpenAPI document (/api/schema/) and Swagger UI (/api/docs/), from the package's own assets
# (drf-spectacular-sidecar, collected with the other static files): the page loads nothing from a CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "identity",
    "DESCRIPTION": (
        "JWT and refresh-token service whose wire contract follows FusionAuth's JWT, Login and "
        "provisioning APIs. Errors: 400 `{fieldErrors, generalErrors}`; 401 and 404 with empty bodies."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "GET_MOCK_REQUEST": "identity.openapi.mock_request",
    "PREPROCESSING_HOOKS": ["identity.openapi.preprocess"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "identity.openapi.postprocess",
    ],
}

# Private signing keys and HMAC secrets are encrypted at rest with AES-256-GCM under this key
# (32 bytes, URL-safe base64). Older keys listed in ..._OLD still decrypt during a rotation.
IDENTITY_KEY_ENCRYPTION_KEY = env_str("IDENTITY_KEY_ENCRYPTION_KEY")
if IDENTITY_KEY_ENCRYPTION_KEY is None:
    raise ImproperlyConfigured(
        "IDENTITY_KEY_ENCRYPTION_KEY is required (32 random bytes, URL-safe base64). "
        "`make run` generates one into .env for development."
    )
IDENTITY_KEY_ENCRYPTION_KEYS_OLD = env_list("IDENTITY_KEY_ENCRYPTION_KEYS_OLD", [])
# The defaults and what each setting means: identity/app_settings.py.
IDENTITY_DEFAULT_SIGNING_ALGORITHM = env_str(
    "IDENTITY_DEFAULT_SIGNING_ALGORITHM", DEFAULTS["IDENTITY_DEFAULT_SIGNING_ALGORITHM"]
)
IDENTITY_JWT_LEEWAY_SECONDS = env_int("IDENTITY_JWT_LEEWAY_SECONDS", DEFAULTS["IDENTITY_JWT_LEEWAY_SECONDS"])
IDENTITY_KEY_ROTATION_MARGIN_SECONDS = env_int(
    "IDENTITY_KEY_ROTATION_MARGIN_SECONDS", DEFAULTS["IDENTITY_KEY_ROTATION_MARGIN_SECONDS"]
)

# Behind a TLS-terminating proxy (deploy/nginx-identity.conf): trust its X-Forwarded-Proto (outside
# debug) and take the client's address from X-Forwarded-For, counting that many proxies from the
# right (identity/client_address.py); the service must then be reachable only through the proxy.
BEHIND_TLS_PROXY = env_bool("DJANGO_BEHIND_TLS_PROXY", default=False)
IDENTITY_TRUSTED_PROXY_COUNT = env_int("IDENTITY_TRUSTED_PROXY_COUNT", 1 if BEHIND_TLS_PROXY else 0)
IDENTITY_WEBHOOK_BACKOFF_BASE_SECONDS = env_int(
    "IDENTITY_WEBHOOK_BACKOFF_BASE_SECONDS", DEFAULTS["IDENTITY_WEBHOOK_BACKOFF_BASE_SECONDS"]
)
IDENTITY_WEBHOOK_BACKOFF_MAX_SECONDS = env_int(
    "IDENTITY_WEBHOOK_BACKOFF_MAX_SECONDS", DEFAULTS["IDENTITY_WEBHOOK_BACKOFF_MAX_SECONDS"]
)

# Request budgets (identity/throttles.py): the defaults, each changeable with
# IDENTITY_THROTTLE_RATES="login.account=10/min,refresh.address=off". Counted in CACHES: set
# REDIS_URL when more than one process serves, so they share one budget.
IDENTITY_THROTTLE_RATES = {**DEFAULTS["IDENTITY_THROTTLE_RATES"], **env_map("IDENTITY_THROTTLE_RATES")}

# identity.middleware: the demo endpoint GET /demo/api/hello takes a token of any of our tenants
# (Authorization: Bearer), verified against the in-process key store; a token older than 10 s comes
# back re-signed, valid 15 min. Any Django project can use the middleware; README "Protecting paths".
IDENTITY_TOKEN_AUTHORIZATION = {
    "enabled": True,
    "protected_paths": ["/demo/api/**"],
    "exclude_paths": [],
    "token_location": "header",
    "token_name": "Authorization",
    "key_source": "key_store",
    "refresh_interval_ms": 10_000,
    "expiration_ms": 900_000,
    "invalid_token_json": '{"error": "invalid_token", "errorMessage": "${errorMessage}"}',
}

# Request bodies are small JSON documents; refuse anything over 1 MB before parsing it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    # Probes from the machine itself (systemd, a load balancer's plain-HTTP check) get an answer.
    SECURE_REDIRECT_EXEMPT = [r"^api/status$", r"^api/health/live$"]
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
    if BEHIND_TLS_PROXY:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
