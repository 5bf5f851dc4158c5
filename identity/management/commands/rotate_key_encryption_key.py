"""`manage.py rotate_key_encryption_key`: re-encrypt every private key under the current KEK."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from identity.key_encryption import KeyDecryptionError, encrypted_under_current_key
from identity.management.base import IdentityBaseCommand
from identity.management.output import progress
from identity.models import SigningKey
from identity.services.signing_keys import signing_keys_reencrypt


class Command(IdentityBaseCommand):
    help = (
        "Re-encrypt every private signing key and HMAC secret under IDENTITY_KEY_ENCRYPTION_KEY. "
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
        pending = sum(
            1
            for blob in secrets.values_list("encrypted_secret", flat=True).iterator()
            if not encrypted_under_current_key(blob)
        )
        done = 0
        if not options["dry_run"] and pending:
            try:
                with progress(total=pending, unit="keys", enabled=not options["json"]) as advance:
                    for _ in signing_keys_reencrypt():
                        done += 1
                        advance(1)
            except KeyDecryptionError as exc:
                raise CommandError(
                    f"{exc} Re-encrypted {done} of {pending} so far; list the old key in "
                    "IDENTITY_KEY_ENCRYPTION_KEYS_OLD and run again."
                ) from exc
        if options["json"]:
            self.stdout.write(json.dumps({"keys": total, "pending": pending - done, "reencrypted": done}))
        elif options["dry_run"]:
            self.stdout.write(f"{pending} of {total} keys are not yet under the current key-encryption key.")
        else:
            self.stdout.write(
                f"Re-encrypted {done} keys; all {total} keys are under the current key-encryption key."
            )
