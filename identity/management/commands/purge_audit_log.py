"""`manage.py purge_audit_log --older-than 365`: delete old audit entries in batches."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from identity.audit import acting_as, command_actor
from identity.management.base import BATCH, DAYS, IdentityBaseCommand
from identity.management.output import progress
from identity.selectors_events import audit_entries
from identity.services.audit import audit_log_purge


class Command(IdentityBaseCommand):
    help = (
        "Delete audit entries older than --older-than days, --batch-size at a time (one short "
        "transaction each; safe to interrupt and run again). The purge itself is recorded."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=DAYS, required=True, help="Age in days.")
        parser.add_argument("--batch-size", type=BATCH, default=5000)
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary.")

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = timezone.now() - timedelta(days=options["older_than"])
        pending = audit_entries(until=cutoff).count()
        deleted = 0
        if not options["dry_run"] and pending:
            with (
                acting_as(command_actor("purge_audit_log")),
                progress(total=pending, unit="audit entries", enabled=not options["json"]) as advance,
            ):
                while count := audit_log_purge(older_than=cutoff, batch_size=options["batch_size"]):
                    deleted += count  # each batch is recorded with its delete (audit_log_purge)
                    advance(count)
        if options["json"]:
            self.stdout.write(json.dumps({"purgeable": pending, "deleted": deleted}))
        elif options["dry_run"]:
            self.stdout.write(f"{pending} audit entries would be deleted.")
        else:
            self.stdout.write(f"Deleted {deleted} audit entries older than {cutoff.date().isoformat()}.")
