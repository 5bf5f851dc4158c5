"""`manage.py create_user`: a user of a tenant, with a password that never appears in argv."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser

from identity.management.base import IdentityCommand, Report, tenant_lookup
from identity.services.users import user_create


class Command(IdentityCommand):
    help = (
        "Create a user of a tenant. The password is read from standard input or an environment "
        "variable, never from the command line, where other users of the machine could see it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant id or name (console staff: Default).")
        parser.add_argument("--email", required=True, help="Email address, unique in the tenant.")
        parser.add_argument("--username", help="Optional username, unique in the tenant.")
        parser.add_argument("--first-name", default="", help="Given name.")
        parser.add_argument("--last-name", default="", help="Family name.")
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of standard input.",
        )
        source.add_argument(
            "--password-env", metavar="VAR", help="Read the password from environment variable VAR."
        )
        parser.add_argument(
            "--bot",
            action="store_true",
            help="A bot: no password, authenticates with personal access tokens (create_access_token).",
        )
        parser.add_argument("--staff", action="store_true", help="May sign in to the admin console.")
        parser.add_argument(
            "--superuser", action="store_true", help="Has every console permission (implies --staff)."
        )

    def perform(self, options: dict[str, Any]) -> Report:
        if options["bot"] and (options["password_stdin"] or options["password_env"]):
            raise CommandError("A bot has no password; drop --password-stdin/--password-env.")
        user = user_create(
            tenant=tenant_lookup(options["tenant"]),
            email=options["email"],
            password=None if options["bot"] else self._password(options),
            username=options["username"],
            first_name=options["first_name"],
            last_name=options["last_name"],
            is_staff=options["staff"] or options["superuser"],
            is_superuser=options["superuser"],
            is_bot=options["bot"],
        )
        return Report(
            data={
                "id": user.pk,
                "tenantId": user.tenant_id,
                "email": user.email,
                "username": user.username,
                **({"bot": True} if user.is_bot else {}),
            },
            summary=f"Created {'bot' if user.is_bot else 'user'} {user.email} ({user.pk}) "
            f"in tenant {user.tenant.name}.",
        )

    def _password(self, options: dict[str, Any]) -> str:
        if not options["password_stdin"] and not options["password_env"]:
            raise CommandError(
                "Error: one of the arguments --password-stdin --password-env is required "
                "(or --bot, for a user without a password)"
            )
        if options["password_stdin"]:
            # At a terminal, prompt without echo; from a pipe, take the first line as it is.
            line = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline()
            password = line.rstrip("\r\n")
            if not password:
                raise CommandError("No password on standard input.")
            return password
        password = os.environ.get(options["password_env"], "")
        if not password:
            raise CommandError(f"The environment variable {options['password_env']} is not set or empty.")
        return password
