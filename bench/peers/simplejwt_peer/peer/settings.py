"""Settings of the simplejwt peer. Everything variable comes from the environment that
bench/run_http.py sets; it mirrors the identity service where that matters to a request's cost
(middleware, renderers, connection reuse, password hasher, DEBUG off)."""

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(f"{name} is required (bench/run_http.py sets it).")
    return value


SECRET_KEY = _required("PEER_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
]

# The same stack as the identity service's.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "peer.urls"
WSGI_APPLICATION = "peer.wsgi.application"
TEMPLATES: list[dict[str, object]] = []

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PEER_DB_NAME", "bench_simplejwt"),
        "USER": os.environ.get("PEER_DB_USER", "postgres"),
        "HOST": os.environ.get("PEER_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("PEER_DB_PORT", "5432"),
        # The identity service's defaults: connections reused for 60 s, not checked before reuse
        # (DATABASE_CONN_HEALTH_CHECKS off: no `SELECT 1` round trip on every request).
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": False,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = ["peer.hashers.Argon2idPasswordHasher"]

USE_TZ = True
TIME_ZONE = "UTC"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}

ALGORITHM = os.environ.get("PEER_JWT_ALGORITHM", "HS256")
if ALGORITHM.startswith("HS"):
    SIGNING_KEY, VERIFYING_KEY = _required("PEER_JWT_SECRET"), ""
else:
    SIGNING_KEY = Path(_required("PEER_JWT_PRIVATE_KEY_FILE")).read_text(encoding="ascii")
    VERIFYING_KEY = Path(_required("PEER_JWT_PUBLIC_KEY_FILE")).read_text(encoding="ascii")

SIMPLE_JWT = {
    "ALGORITHM": ALGORITHM,
    "SIGNING_KEY": SIGNING_KEY,
    "VERIFYING_KEY": VERIFYING_KEY,
    # The identity service's defaults: one-hour access tokens, 30-day refresh tokens.
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=1),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=30),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # The identity service records the last login too.
    "UPDATE_LAST_LOGIN": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("PEER_LOG_LEVEL", "WARNING")},
}
