"""`manage.py create_access_token`: a personal access token for a user or bot, printed once."""

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
from identity.models import TokenExpiry
from identity.serializers.personal_access_tokens import AccessTokenSerializer
from identity.services.personal_access_tokens import pat_create


class Command(IdentityCommand):
    help = (
        "Create a personal access token (a JWT for scripts and CI) for a user or bot and print it "
        "once; only its record is stored. Revoke it with revoke_access_token."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="User or bot id or email.")
        parser.add_argument("--tenant", help="Tenant id or name, when the email exists in several.")
        parser.add_argument("--name", required=True, help="Unique among the user's live tokens, e.g. ci.")
        parser.add_argument(
            "--expiry",
            required=True,
            choices=TokenExpiry.values,
            help="OneHour, a number of days, or Unlimited.",
        )
        parser.add_argument(
            "--scopes", default="", help="Comma-separated roles the user holds, e.g. 'reader,deployer'."
        )
        parser.add_argument("--application", help="Application id or name the token is for.")
        parser.add_argument(
            "--allow-ip", action="append", metavar="CIDR", help="Allowed address or network; repeatable."
        )

    def perform(self, options: dict[str, Any]) -> Report:
        tenant = tenant_lookup(options["tenant"]) if options["tenant"] else None
        user = user_lookup(options["user"], tenant=tenant)
        application = (
            application_lookup(options["application"], tenant=user.tenant) if options["application"] else None
        )
        created = pat_create(
            user=user,
            name=options["name"],
            expiry=options["expiry"],
            scopes=split_names(options["scopes"]),
            application_id=application.pk if application is not None else None,
            allowed_ips=options["allow_ip"] or [],
        )
        return Report(
            data={**AccessTokenSerializer(created.token).data, "JWTToken": created.value},
            summary=f"Created access token {created.token.name!r} ({created.token.pk}) for {user.email}. "
            f"Its value, shown only this once:\n{created.value}",
        )
