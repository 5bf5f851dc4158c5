"""`manage.py create_tenant`: a new tenant, for scripts that provision an environment."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from identity.management.base import IdentityCommand, Report
from identity.serializers.common import errors_on_wire
from identity.serializers.tenants import TenantSerializer
from identity.services.tenants import tenant_create


class Command(IdentityCommand):
    help = "Create a tenant: its own users, applications, token issuer and signing keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Unique tenant name (case-insensitive).")
        parser.add_argument(
            "--issuer",
            required=True,
            help="The `iss` claim of the tenant's tokens, e.g. https://auth.example.com.",
        )

    def perform(self, options: dict[str, Any]) -> Report:
        with errors_on_wire("tenant", TenantSerializer):
            tenant = tenant_create(name=options["name"], issuer=options["issuer"])
        return Report(
            data={"id": tenant.pk, "name": tenant.name, "issuer": tenant.issuer},
            summary=f"Created tenant {tenant.name} ({tenant.pk}), issuer {tenant.issuer}.",
        )
