from django.apps import AppConfig
from django.db.backends.signals import connection_created


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from identity import (
            checks,  # noqa: F401  (registers system checks)
            openapi,  # noqa: F401  (registers the OpenAPI security schemes)
        )
        from identity.db import timestamptz_loader_install
        from identity.request_cycle import request_cycle_trim

        connection_created.connect(timestamptz_loader_install, dispatch_uid="identity.db.timestamptz")
        request_cycle_trim(
            debug=settings.DEBUG, cache_backends=[cache["BACKEND"] for cache in settings.CACHES.values()]
        )
