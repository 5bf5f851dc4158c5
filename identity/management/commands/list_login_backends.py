"""`manage.py list_login_backends`: the login backends of one application, or of all."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from identity.management.base import IdentityCommand, Report, tenant_lookup
from identity.management.commands.create_login_backend import add_application_arguments, application_of
from identity.selectors import login_backend_list, login_backend_list_all
from identity.serializers.login_backends import LoginBackendSerializer


class Command(IdentityCommand):
    help = "List login backends (name, transport, lifetime, application), of --application or all."

    def add_arguments(self, parser: CommandParser) -> None:
        add_application_arguments(parser, required=False)

    def perform(self, options: dict[str, Any]) -> Report:
        if options["application"]:
            application = application_of(options)
            backends = list(login_backend_list(application=application).select_related("application"))
        else:  # --tenant alone: that tenant's backends (it was ignored, listing every tenant's)
            tenant = tenant_lookup(options["tenant"]) if options["tenant"] else None
            backends = list(login_backend_list_all(tenant=tenant))
        lines = [
            "\t".join((b.name, b.transport, f"{b.lifetime_seconds}s", b.application.name, str(b.pk)))
            for b in backends
        ]
        return Report(
            data={"loginBackends": LoginBackendSerializer(backends, many=True).data},
            summary="\n".join(lines) or "No login backends.",
        )
