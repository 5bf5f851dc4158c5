"""A second, separate Django project: a resource server that knows nothing of the identity
service but its JWKS URL (or a shared HMAC secret). It installs only identity.middleware; no
database, no identity models. The token-authorization dict comes from `RS_TOKEN_AUTHORIZATION`
(JSON) so one project serves every mode the tests need."""

from __future__ import annotations

import json
import os

SECRET_KEY = os.environ.get("RS_SECRET_KEY", "resource-server-tests-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["identity.middleware_app.TokenAuthorizationAppConfig"]
MIDDLEWARE = ["identity.middleware.TokenAuthorizationMiddleware"]
ROOT_URLCONF = "tests.resource_server.urls"
WSGI_APPLICATION = "tests.resource_server.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
if "RS_TOKEN_AUTHORIZATION" in os.environ:
    IDENTITY_TOKEN_AUTHORIZATION = json.loads(os.environ["RS_TOKEN_AUTHORIZATION"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
