"""`manage.py import_users file.json`: FusionAuth's Import Users request from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from identity.exceptions import ValidationFailed
from identity.management.base import IdentityCommand, Report, counted, tenant_lookup
from identity.management.output import progress
from identity.models import Tenant
from identity.serializers.user_import import import_request
from identity.services.user_import import users_import

MAX_ERRORS_SHOWN = 50


def _document(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{path} is not JSON: {exc}") from exc


def _tenant(value: str | None) -> Tenant:
    if value:
        return tenant_lookup(value)
    tenants = list(Tenant.objects.all()[:2])
    if len(tenants) != 1:
        raise CommandError("There are several tenants; say which one with --tenant (id or name).")
    return tenants[0]


def _lines(exc: ValidationFailed) -> str:
    """One line per problem (`users[3].email: [duplicate] …`), the first MAX_ERRORS_SHOWN of them."""
    lines = [f"{e.code}: {e.message}" for errors in exc.field_errors.values() for e in errors]
    lines += [f"{e.code}: {e.message}" for e in exc.general_errors]
    more = len(lines) - MAX_ERRORS_SHOWN
    shown = lines[:MAX_ERRORS_SHOWN] + ([f"… and {more} more."] if more > 0 else [])
    return f"Nothing was imported ({counted(len(lines), 'problem')}):\n" + "\n".join(shown)


class Command(IdentityCommand):
    help = (
        "Import users with their registrations and existing password hashes from a JSON file in the "
        'shape of FusionAuth\'s Import Users request ({"users": [...], "encryptionScheme"?, '
        "\"factor\"?}); '-' reads standard input. All or nothing; every clash with existing users is "
        "named. Hashes are kept and re-hashed to Argon2id at each user's first login."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The JSON file, or - for standard input.")
        parser.add_argument(
            "--tenant", help="Import into this tenant (id or name); needed if there are several."
        )
        parser.add_argument("--dry-run", action="store_true", help="Check everything, then import nothing.")

    def perform(self, options: dict[str, Any]) -> Report:
        document, tenant = _document(options["file"]), _tenant(options["tenant"])
        try:
            request = import_request(document)
            # Two stages per user (checked, then inserted): the bar fills once both are done.
            with progress(
                total=2 * len(request.users), unit="users (check, insert)", enabled=not options["json"]
            ) as advance:
                created = users_import(
                    tenant=tenant, users=request.users, validate_db_constraints=True,
                    encryption_scheme=request.encryption_scheme, factor=request.factor,
                    progress=lambda stage, n: advance(n),
                )  # fmt: skip
        except ValidationFailed as exc:
            raise CommandError(_lines(exc)) from exc
        if options["dry_run"]:
            transaction.set_rollback(True)  # everything was checked and inserted; keep none of it
        verb = "Would import" if options["dry_run"] else "Imported"
        return Report(
            data={"tenantId": tenant.pk, "users": created, "dryRun": options["dry_run"]},
            summary=f"{verb} {created} users into tenant {tenant.name}.",
        )
