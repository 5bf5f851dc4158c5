from django.apps import AppConfig
from django.db.backends.signals import connection_created


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from identity import (
            checks,  # noqa: F401  (registers system checks)
            openapi,  # noqa: F401  (registers the OpenAPI security schemes)
        )
        from identity.db import timestamptz_loader_install

        connection_created.connect(timestamptz_loader_install, dispatch_uid="identity.db.timestamptz")
