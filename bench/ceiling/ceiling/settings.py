"""A minimal Django project: only CommonMiddleware, DRF's JSON renderer and parser, no apps, DEBUG
off, the identity service's database connection settings (reused 60 s, not checked before reuse).
bench/run_http.py sets the environment."""

import os

SECRET_KEY = os.environ.get("CEILING_SECRET_KEY", "bench-ceiling-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "ceiling.urls"
WSGI_APPLICATION = "ceiling.wsgi.application"
TEMPLATES: list[dict[str, object]] = []
USE_TZ = True
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("CEILING_DB_NAME", "bench_ceiling"),
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "CONN_MAX_AGE": 60,
        # As the identity service runs by default (DATABASE_CONN_HEALTH_CHECKS off): no `SELECT 1`
        # round trip before each request's first statement, so ceiling (c) is one UPDATE.
        "CONN_HEALTH_CHECKS": False,
    }
}
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
