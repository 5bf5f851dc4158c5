"""`manage.py register_user`: give a user access to an application, with roles."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from identity.management.base import (
    IdentityCommand,
    Report,
    application_lookup,
    split_names,
    tenant_lookup,
    user_lookup,
)
from identity.services.registrations import registration_create


class Command(IdentityCommand):
    help = "Register a user to an application of the same tenant, with the given or the default roles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="User id or email.")
        parser.add_argument(
            "--application", required=True, help="Application id, or name in the user's tenant."
        )
        parser.add_argument("--tenant", help="Tenant id or name, when the email exists in several tenants.")
        parser.add_argument(
            "--roles",
            metavar="A,B",
            help="Comma-separated role names (default: the application's default roles).",
        )

    def perform(self, options: dict[str, Any]) -> Report:
        tenant = tenant_lookup(options["tenant"]) if options["tenant"] else None
        user = user_lookup(options["user"], tenant=tenant)
        application = application_lookup(options["application"], tenant=user.tenant)
        roles = split_names(options["roles"]) if options["roles"] is not None else None
        registration = registration_create(user=user, application=application, roles=roles)
        return Report(
            data={
                "id": registration.pk,
                "userId": user.pk,
                "applicationId": application.pk,
                "roles": registration.roles,
            },
            summary=(
                f"Registered {user.email} to {application.name}"
                f" with roles: {', '.join(registration.roles) or 'none'}."
            ),
        )
