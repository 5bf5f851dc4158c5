"""Test settings: the production settings plus fresh random secrets and a fast password hasher."""

from __future__ import annotations

import base64
import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault(
    "IDENTITY_KEY_ENCRYPTION_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
)
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# Tests run the production code paths (DEBUG off) whatever a local .env says.
os.environ["DJANGO_DEBUG"] = "0"
os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "0"

from config.env import env_map
from config.settings import *  # noqa: F403

# No request budget unless a test asks for one (with `settings`, or IDENTITY_THROTTLE_RATES for a
# live server): the suite logs the same user in hundreds of times from 127.0.0.1.
IDENTITY_THROTTLE_RATES = {
    **dict.fromkeys(IDENTITY_THROTTLE_RATES, "off"),  # noqa: F405
    **env_map("IDENTITY_THROTTLE_RATES"),
}

# Hashing tests opt back into Argon2 with the `settings` fixture; everything else hashes fast.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "identity.hashers.Argon2idPasswordHasher",
    *IMPORTED_PASSWORD_HASHERS,  # noqa: F405
]

# The hashed names exist only after `collectstatic`; tests render templates without it, except the
# serving tests, which collect into a temporary STATIC_ROOT and ask for the production storage.
if os.environ.get("IDENTITY_TEST_HASHED_STATIC") != "1":
    STORAGES = {
        **STORAGES,  # noqa: F405
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Look STATIC_ROOT up per request instead of indexing it at start (it is not collected here).
    WHITENOISE_AUTOREFRESH = True
