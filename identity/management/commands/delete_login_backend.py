"""`manage.py delete_login_backend`: remove a login backend by name (names are unique) or id."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from identity.management.base import IdentityCommand, Report
from identity.selectors import login_backend_find
from identity.services.login_backends import login_backend_delete


class Command(IdentityCommand):
    help = "Delete a login backend; /auth/<name>/login answers 404 from then on (issued tokens stay valid)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("backend", help="The backend's name or id.")

    def perform(self, options: dict[str, Any]) -> Report:
        value = options["backend"]
        backend = login_backend_find(name_or_id=value)
        if backend is None:
            raise CommandError(f"No login backend has the name or id {value!r}.")
        backend_id, name = backend.pk, backend.name
        login_backend_delete(backend=backend)
        deleted = {"id": backend_id, "name": name}
        return Report(data={"deleted": deleted}, summary=f"Deleted login backend {name}.")
