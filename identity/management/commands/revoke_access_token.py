"""`manage.py revoke_access_token`: revoke personal access tokens (refused everywhere within a second)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import CommandError, CommandParser

from identity.management.base import IdentityCommand, Report, counted, tenant_lookup, user_lookup
from identity.models import PersonalAccessToken
from identity.services.personal_access_tokens import pat_revoke, pats_revoke_for_user

REVOKED_BY = "command line"


class Command(IdentityCommand):
    help = "Revoke a personal access token by id, by user and name, or every token of a user (--all)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", help="The token's id (its jti).")
        parser.add_argument("--user", help="User or bot id or email (with --name or --all).")
        parser.add_argument("--tenant", help="Tenant id or name, when the email exists in several.")
        parser.add_argument("--name", help="The live token of --user with this name.")
        parser.add_argument("--all", action="store_true", help="Every live token of --user.")

    def perform(self, options: dict[str, Any]) -> Report:
        if options["id"] and (options["user"] or options["name"] or options["all"]):
            raise CommandError("Give --id, or --user with exactly one of --name and --all.")
        if options["id"]:
            token = self._by_id(options["id"])
            pat_revoke(token=token, by=REVOKED_BY)
            return Report(data={"revoked": [token.pk]}, summary=f"Revoked access token {token.pk}.")
        if not options["user"] or options["all"] == bool(options["name"]):
            raise CommandError("Give --id, or --user with exactly one of --name and --all.")
        tenant = tenant_lookup(options["tenant"]) if options["tenant"] else None
        user = user_lookup(options["user"], tenant=tenant)
        if options["all"]:
            count = pats_revoke_for_user(user=user, by=REVOKED_BY)
            return Report(
                data={"count": count}, summary=f"Revoked {counted(count, 'access token')} of {user.email}."
            )
        named = PersonalAccessToken.objects.filter(user=user, name=options["name"], revoked_at__isnull=True)
        found = named.select_related("tenant").first()
        if found is None:
            raise CommandError(f"{user.email} has no live access token named {options['name']!r}.")
        pat_revoke(token=found, by=REVOKED_BY)
        return Report(data={"revoked": [found.pk]}, summary=f"Revoked access token {found.pk}.")

    def _by_id(self, value: str) -> PersonalAccessToken:
        try:
            token_id = uuid.UUID(value)
        except ValueError as exc:
            raise CommandError(f"{value!r} is not a token id.") from exc
        token = PersonalAccessToken.objects.select_related("tenant").filter(pk=token_id).first()
        if token is None:
            raise CommandError(f"No access token has the id {value}.")
        return token
