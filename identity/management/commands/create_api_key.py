"""`manage.py create_api_key`: a key for the REST APIs; its value is printed once and never stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from identity.management.base import DAYS, IdentityCommand, Report, split_names, tenant_lookup
from identity.services.api_keys import api_key_create


def permissions_parse(values: list[str] | None) -> dict[str, list[str]]:
    """`["/api/jwt/refresh:GET,DELETE", ...]` → `{"/api/jwt/refresh": ["GET", "DELETE"]}`; the
    service then checks paths and method names."""
    permissions: dict[str, list[str]] = {}
    for value in values or []:
        path, _, methods = value.rpartition(":")
        if not path or not split_names(methods):
            raise CommandError(
                f"--permission takes PATH:METHOD[,METHOD...], e.g. /api/login:POST; got {value!r}."
            )
        permissions.setdefault(path, []).extend(split_names(methods))
    return permissions


class Command(IdentityCommand):
    help = (
        "Create an API key and print its value once (only a digest is stored). Without --permission "
        "the key may call every endpoint."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Lock the key to this tenant (id or name). Default: any tenant.")
        parser.add_argument("--name", default="", help="A label to recognise the key by.")
        parser.add_argument("--description", default="", help="What the key is for.")
        parser.add_argument("--key-manager", action="store_true", help="May create and delete API keys.")
        parser.add_argument(
            "--permission",
            action="append",
            metavar="PATH:METHODS",
            help="Allow only these endpoints; repeatable, e.g. --permission /api/jwt/refresh:GET,DELETE.",
        )
        parser.add_argument("--expires-in-days", type=DAYS, metavar="N", help="Expire after N days.")

    def perform(self, options: dict[str, Any]) -> Report:
        days = options["expires_in_days"]
        api_key, raw = api_key_create(
            tenant=tenant_lookup(options["tenant"]) if options["tenant"] else None,
            name=options["name"],
            description=options["description"],
            permissions=permissions_parse(options["permission"]),
            key_manager=options["key_manager"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
        return Report(
            data={
                "id": api_key.pk,
                "key": raw,
                "prefix": api_key.prefix,
                "tenantId": api_key.tenant_id,
                "keyManager": api_key.key_manager,
                "permissions": api_key.permissions,
            },
            summary=f"Created API key {api_key.pk}. Its value, shown only this once:\n{raw}",
        )
