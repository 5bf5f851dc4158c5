"""`manage.py delete_signing_key`: delete a key nobody signs with or trusts any more."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from identity.management.base import IdentityCommand, Report, signing_key_lookup
from identity.services.signing_keys import signing_key_delete


class Command(IdentityCommand):
    help = (
        "Delete a signing key by id or kid, as DELETE /api/key/{id} does: a key that signs, or that a "
        "tenant or application still trusts, is refused; so is one that verifies live personal access "
        "tokens, unless --revoke-personal-access-tokens says to revoke them (they stop working)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "key",
            help="The key's id or kid. A kid (an RFC 7638 thumbprint) may start with '-': "
            "put it after '--' (delete_signing_key -- -Xy3...).",
        )
        parser.add_argument(
            "--revoke-personal-access-tokens",
            action="store_true",
            help="Delete it even though it verifies live personal access tokens, revoking them: "
            "every script using one of them stops working.",
        )

    def perform(self, options: dict[str, Any]) -> Report:
        key = signing_key_lookup(options["key"])
        summary = f"Deleted key {key.name} (kid {key.kid})."
        data: dict[str, Any] = {"id": key.pk, "kid": key.kid}
        revoked = signing_key_delete(
            key=key, revoke_personal_access_tokens=options["revoke_personal_access_tokens"]
        )
        if revoked:
            summary += f" Revoked the {revoked} personal access token(s) it verified."
        return Report(data={**data, "revokedPersonalAccessTokens": revoked}, summary=summary)
