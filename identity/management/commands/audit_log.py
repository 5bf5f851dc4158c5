"""`manage.py audit_log`: print audit entries, oldest first, narrowed by date, action, actor, object."""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from identity.management.base import IdentityBaseCommand, positive_int
from identity.models import AuditEntry
from identity.selectors_events import audit_entries


def _instant(value: str) -> datetime:
    """A date (`2026-01-01`, midnight in the server's zone) or an ISO date-time."""
    try:
        moment = parse_datetime(value)
        day = parse_date(value) if moment is None else None
    except ValueError:
        moment = day = None
    if moment is None:
        if day is None:
            raise CommandError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO date-time.")
        moment = datetime.combine(day, time.min)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "createdAt": entry.created_at.isoformat(),
        "actor": {"kind": entry.actor_kind, "id": entry.actor_id, "label": entry.actor_label},
        "action": entry.action,
        "object": {"type": entry.object_type, "id": entry.object_id},
        "tenantId": str(entry.tenant_id) if entry.tenant_id else None,
        "diff": entry.diff,
        "count": entry.count,
        "clientIp": entry.client_ip,
    }


def entry_row(entry: AuditEntry) -> tuple[str, ...]:
    """One table row: when, who, what, on which object, from where, how many, what changed."""
    return (
        entry.created_at.isoformat(timespec="seconds"),
        f"{entry.actor_kind}:{entry.actor_label or entry.actor_id or '-'}",
        entry.action,
        f"{entry.object_type} {entry.object_id}".strip(),
        entry.client_ip or "",
        "" if entry.count is None else str(entry.count),
        json.dumps(entry.diff, sort_keys=True, cls=DjangoJSONEncoder) if entry.diff else "",
    )


class Command(IdentityBaseCommand):
    help = "Print the audit trail, oldest first. --action takes a glob: --action 'signing_key.*'."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="Entries from this date or ISO date-time on.")
        parser.add_argument("--until", help="Entries before this date or ISO date-time.")
        parser.add_argument("--action", help="An action code or a glob (tenant.*, *.delete).")
        parser.add_argument("--actor", help="The actor id (API key id, user id or OS user name).")
        parser.add_argument("--object", help="The object id.")
        parser.add_argument("--limit", type=positive_int, help="At most this many entries (the oldest).")
        parser.add_argument("--json", action="store_true", help="Print a JSON array.")

    def handle(self, *args: Any, **options: Any) -> None:
        entries = audit_entries(
            since=_instant(options["since"]) if options["since"] else None,
            until=_instant(options["until"]) if options["until"] else None,
            action=options["action"],
            actor_id=options["actor"],
            object_id=options["object"],
        )
        if options["limit"]:
            entries = entries[: options["limit"]]
        if options["json"]:
            rows = [entry_json(e) for e in entries.iterator()]
            self.stdout.write(json.dumps(rows, cls=DjangoJSONEncoder, indent=2))
            return
        self.print_table(
            columns=("When", "Actor", "Action", "Object", "IP", "Count", "Changes"),
            rows=(entry_row(e) for e in entries.iterator()),
        )
