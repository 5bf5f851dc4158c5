from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.base_user import BaseUserManager

if TYPE_CHECKING:
    from identity.models import User


class UserManager(BaseUserManager["User"]):
    """Django's hooks (createsuperuser, tests) delegate to the user service of the default tenant."""

    use_in_migrations = False

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        from identity.selectors import tenant_get_default
        from identity.services.users import user_create

        tenant = extra.pop("tenant", None) or tenant_get_default()
        return user_create(tenant=tenant, email=email, password=password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)
