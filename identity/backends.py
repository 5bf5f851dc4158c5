from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest
from django.utils import timezone

from identity.exceptions import IdentityError
from identity.models import User
from identity.selectors import tenant_get_default
from identity.services.login import failed_logins_clear, password_verify


class ConsoleBackend(ModelBackend):
    """Admin-console sign-in: staff are users of the default tenant, found by their email key.

    Email is only unique per tenant, so the lookup is pinned to the default tenant; a user of any
    other tenant can never reach the console, whatever flags their row carries. The password is
    checked by the login's own door (password_verify): the same failure counting, lockout and
    account-state rules as /api/login, so the console is no side door for guessing.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = username or kwargs.get("email")
        if not email or password is None:
            return None
        try:
            user = password_verify(
                tenant=tenant_get_default(),
                login_id=email,
                password=password,
                login_id_types=("email",),
                now=timezone.now(),
            )
        except IdentityError:
            return None
        failed_logins_clear(user=user)
        return user if self.user_can_authenticate(user) else None

    def get_user(self, user_id: Any) -> User | None:
        user = User.objects.filter(pk=user_id, tenant__is_default=True).first()
        return user if user is not None and self.user_can_authenticate(user) else None
