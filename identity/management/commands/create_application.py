"""`manage.py create_application`: an application with its roles, in one step."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from identity.management.base import IdentityCommand, Report, split_names, tenant_lookup
from identity.serializers.applications import ApplicationSerializer
from identity.serializers.common import errors_on_wire
from identity.services.applications import RoleSpec, application_create
from identity.services.oauth_clients import oauth_client_configure


class Command(IdentityCommand):
    help = "Create an application of a tenant, with its roles and refresh-token settings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant id or name.")
        parser.add_argument("--name", required=True, help="Application name, unique in the tenant.")
        parser.add_argument("--roles", metavar="A,B", help="Comma-separated role names.")
        parser.add_argument(
            "--default-roles", metavar="A,B", help="Roles (among --roles) granted to new registrations."
        )
        parser.add_argument(
            "--generate-refresh-tokens", action="store_true", help="Issue a refresh token on login."
        )
        parser.add_argument(
            "--allow-token-refresh", action="store_true", help="Accept refresh tokens at /api/jwt/refresh."
        )
        parser.add_argument(
            "--oauth",
            action="store_true",
            help="Make it an OAuth2 client (client_credentials, secret by Basic or form body); the client "
            "secret is printed once.",
        )
        parser.add_argument(
            "--scopes", metavar="A,B", help="With --oauth: the scopes the client may request."
        )

    def perform(self, options: dict[str, Any]) -> Report:
        roles = split_names(options["roles"])
        defaults = {name.lower() for name in split_names(options["default_roles"])}
        strays = defaults - {name.lower() for name in roles}
        if strays:
            raise CommandError(
                f"--default-roles names roles missing from --roles: {', '.join(sorted(strays))}."
            )
        with errors_on_wire("application", ApplicationSerializer):
            application = application_create(
                tenant=tenant_lookup(options["tenant"]),
                name=options["name"],
                roles=[RoleSpec(name=name, is_default=name.lower() in defaults) for name in roles],
                generate_refresh_tokens=options["generate_refresh_tokens"],
                allow_token_refresh=options["allow_token_refresh"],
            )
        oauth = (
            oauth_client_configure(application=application, scopes=split_names(options["scopes"]))
            if options["oauth"]
            else None
        )
        created = list(application.roles.order_by("name"))
        role_names = ", ".join(role.name for role in created) or "none"
        return Report(
            data={
                "id": application.pk,
                "tenantId": application.tenant_id,
                "name": application.name,
                "roles": [{"name": role.name, "isDefault": role.is_default} for role in created],
                **(
                    {"oauthConfiguration": {"clientId": application.pk, "clientSecret": oauth.client_secret}}
                    if oauth is not None
                    else {}
                ),
            },
            summary=(
                f"Created application {application.name} ({application.pk})"
                f" in tenant {application.tenant.name} with roles: {role_names}."
                + (
                    f"\nOAuth client id {application.pk}, secret (shown only now): {oauth.client_secret}"
                    if oauth is not None
                    else ""
                )
            ),
        )
