from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from identity.login_ids import login_id_key
from identity.models import User


class ConsoleBackend(ModelBackend):
    """Admin-console sign-in: staff are users of the default tenant, found by their email key.

    Email is only unique per tenant, so the lookup is pinned to the default tenant; a user of any
    other tenant can never reach the console, whatever flags their row carries.
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
        user = User.objects.filter(tenant__is_default=True, email_key=login_id_key(email)).first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle for emails
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id: Any) -> User | None:
        user = User.objects.filter(pk=user_id, tenant__is_default=True).first()
        return user if user is not None and self.user_can_authenticate(user) else None
