"""`manage.py purge_refresh_tokens`: delete long-expired and long-revoked refresh tokens, and the
revocations of access tokens and personal access tokens that have expired since."""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandParser

from identity.audit import acting_as, command_actor
from identity.management.base import DAYS, IdentityBaseCommand, non_negative_float, positive_int
from identity.management.output import progress
from identity.services.refresh_tokens import refresh_tokens_purge, refresh_tokens_purgeable
from identity.services.revocations import revoked_tokens_purge, revoked_tokens_purgeable

MAX_BATCH_SIZE = 100_000
"""A batch's deleted keys come back to the command: this bounds its memory and one statement's locks."""


def batch_size(value: str) -> int:
    number = positive_int(value)
    if number > MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"{value!r} is more than {MAX_BATCH_SIZE}")
    return number


class Command(IdentityBaseCommand):
    help = (
        "Delete refresh tokens that expired or were revoked more than --retention-days ago (default 7). "
        "Revoked tokens are kept that long so a replayed value is still recognised as reuse. Runs in "
        "batches of --batch-size rows walked by index, one short statement each, with --sleep seconds "
        "between them to leave the database room; safe to interrupt and run again (e.g. from cron). "
        "Also forgets revoked access-token ids whose tokens have expired since."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--retention-days", type=DAYS, default=7)
        parser.add_argument(
            "--batch-size", type=batch_size, default=5000, help=f"Rows per DELETE (at most {MAX_BATCH_SIZE})."
        )
        parser.add_argument(
            "--sleep", type=non_negative_float, default=0.0, help="Seconds to pause between batches."
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary.")

    def handle(self, *args: Any, **options: Any) -> None:
        retention = timedelta(days=options["retention_days"])
        pending = refresh_tokens_purgeable(retention=retention)
        deleted = 0
        revocations = revoked_tokens_purgeable()
        with acting_as(command_actor("purge_refresh_tokens")):
            if not options["dry_run"]:
                revocations = revoked_tokens_purge()
            if not options["dry_run"] and pending:
                with progress(total=pending, unit="refresh tokens", enabled=not options["json"]) as advance:
                    for count in refresh_tokens_purge(retention=retention, batch_size=options["batch_size"]):
                        deleted += count
                        advance(count)
                        if options["sleep"]:
                            time.sleep(options["sleep"])
        if options["json"]:
            summary = {"purgeable": pending, "deleted": deleted, "expiredRevocations": revocations}
            self.stdout.write(json.dumps(summary))
        elif options["dry_run"]:
            self.stdout.write(
                f"{pending} refresh tokens and {revocations} expired revocations would be deleted."
            )
        else:
            self.stdout.write(f"Deleted {deleted} refresh tokens and {revocations} expired revocations.")
