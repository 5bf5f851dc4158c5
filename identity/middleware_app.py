"""For projects that use identity.middleware without the identity app (a resource server): add
`"identity.middleware_app.TokenAuthorizationAppConfig"` to INSTALLED_APPS so `manage.py check` and
`runserver` refuse a bad IDENTITY_TOKEN_AUTHORIZATION at start. No models, no database."""

from __future__ import annotations

from django.apps import AppConfig
from django.core.checks import register

from identity.middleware_config import token_authorization_check


class TokenAuthorizationAppConfig(AppConfig):
    name = "identity.middleware_app"
    label = "identity_token_authorization"
    verbose_name = "Identity token authorization"

    def ready(self) -> None:
        register(token_authorization_check)
