"""`manage.py rotate_key_encryption_key`: re-encrypt every private key, HMAC secret and webhook
secret under the current KEK."""

from __future__ import annotations

import itertools
import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from identity.audit import acting_as, command_actor
from identity.key_encryption import KeyDecryptionError, encrypted_under_current_key
from identity.management.base import IdentityBaseCommand
from identity.management.output import progress
from identity.models import SigningKey, Webhook
from identity.services.signing_keys import signing_keys_reencrypt
from identity.services.webhooks import webhooks_reencrypt


class Command(IdentityBaseCommand):
    help = (
        "Re-encrypt every private signing key, HMAC secret and webhook secret under "
        "IDENTITY_KEY_ENCRYPTION_KEY. "
        "Rotation: set the new key as IDENTITY_KEY_ENCRYPTION_KEY and the old one in "
        "IDENTITY_KEY_ENCRYPTION_KEYS_OLD, run this command, then drop the old key. Each key is "
        "its own transaction, so an interrupted run can simply be started again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Only count the keys still to re-encrypt.")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary.")

    def handle(self, *args: Any, **options: Any) -> None:
        secrets = SigningKey.objects.exclude(encrypted_secret="")
        total = secrets.count()
        webhooks = Webhook.objects.count()
        blobs = [
            *secrets.values_list("encrypted_secret", flat=True).iterator(),
            *Webhook.objects.values_list("encrypted_secret", flat=True).iterator(),
        ]
        pending = sum(1 for blob in blobs if not encrypted_under_current_key(blob))
        done = 0
        if not options["dry_run"] and pending:
            try:
                with (
                    acting_as(command_actor("rotate_key_encryption_key")),
                    progress(total=pending, unit="secrets", enabled=not options["json"]) as advance,
                ):
                    for _ in itertools.chain(signing_keys_reencrypt(), webhooks_reencrypt()):
                        done += 1
                        advance(1)
            except KeyDecryptionError as exc:
                raise CommandError(
                    f"{exc} Re-encrypted {done} of {pending} so far; list the old key in "
                    "IDENTITY_KEY_ENCRYPTION_KEYS_OLD and run again."
                ) from exc
        if options["json"]:
            summary = {"keys": total, "webhooks": webhooks, "pending": pending - done, "reencrypted": done}
            self.stdout.write(json.dumps(summary))
        elif options["dry_run"]:
            self.stdout.write(
                f"{pending} of {total + webhooks} secrets ({total} keys, {webhooks} webhooks) are not yet "
                "under the current key-encryption key."
            )
        else:
            self.stdout.write(
                f"Re-encrypted {done} secrets; all {total} keys and {webhooks} webhooks are under the "
                "current key-encryption key."
            )
