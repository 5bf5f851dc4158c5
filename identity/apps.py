from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from identity import (
            checks,  # noqa: F401  (registers system checks)
            openapi,  # noqa: F401  (registers the OpenAPI security schemes)
        )
