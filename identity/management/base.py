"""Plumbing shared by the identity management commands.

Every command does one unit of work in one transaction, turns the services' domain errors into a
one-line `CommandError`, and reports what it created either as a short summary or, with `--json`,
as a JSON object for scripts. The lookups accept what a person types: an id or a name/email.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q, QuerySet

from identity.audit import acting_as, command_actor
from identity.exceptions import IdentityError
from identity.login_ids import login_id_key
from identity.management.output import console_for, server_logs_hidden, table
from identity.models import Application, SigningKey, Tenant, User

M = TypeVar("M", bound=models.Model)


def counted(count: int, noun: str) -> str:
    """`1 problem`, `2 problems`: a count and its noun (a regular plural) for a command's output."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass(frozen=True)
class Report:
    data: dict[str, Any]
    """Printed as a JSON object with --json; ids and datetimes are serialised for you."""
    summary: str
    """Printed otherwise."""


class OneLineErrorParser(CommandParser):
    """On the command line, a usage error is one line (argparse would print the whole usage first),
    so the cause is what a person or a script's log sees. Called in-process (`call_command`) it
    raises CommandError, as Django's own parser does."""

    def error(self, message: str) -> NoReturn:
        if not self.called_from_command_line:
            raise CommandError(f"Error: {message}")
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class IdentityBaseCommand(BaseCommand):
    """What every identity command shares: usage errors on one line, and an output that is only the
    command's own (the servers' cache log lines hidden, identity.management.output)."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = OneLineErrorParser  # Django builds the parser; only error() changes
        return parser

    def execute(self, *args: Any, **options: Any) -> str | None:
        with server_logs_hidden(options.get("verbosity", 1)):
            try:
                return super().execute(*args, **options)
            except KeyboardInterrupt:
                # One line, not a traceback: what ran in a transaction rolled back; a purge's
                # finished batches stay deleted, each recorded; running the command again resumes.
                raise CommandError(
                    "Interrupted: work in progress was rolled back; run the command again to resume.",
                    returncode=130,
                ) from None

    def print_table(self, *, columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "") -> None:
        console_for(self.stdout).print(table(columns=columns, rows=rows, title=title or None))


class IdentityCommand(IdentityBaseCommand):
    """A command that calls the services once and reports the result.

    Subclasses implement `perform`; it runs inside `transaction.atomic`, so a failure after a first
    step (a key generated, then refused as the tenant's signer) leaves nothing behind, and secrets
    are printed only once the rows holding their digests are committed.
    """

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print a JSON object of what was created instead of a summary.",
        )
        return parser

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with acting_as(command_actor(self._name())), transaction.atomic():
                report = self.perform(options)
        except IdentityError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report.data, cls=DjangoJSONEncoder, indent=2))
        else:
            self.stdout.write(report.summary)

    def perform(self, options: dict[str, Any]) -> Report:
        raise NotImplementedError

    def _name(self) -> str:
        return self.__class__.__module__.rsplit(".", 1)[-1]


MAX_COUNT = 1_000_000_000
"""The largest count or size a command takes: beyond it a number only overflows a date or a column."""


def positive_int(value: str, maximum: int = MAX_COUNT) -> int:
    """argparse type for counts and sizes, so `--length 0` is refused before anything runs, and
    so is a number too large for what it counts (a traceback from deep down, before)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 0 < number <= maximum:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 to {maximum}")
    return number


def at_most(maximum: int) -> Callable[[str], int]:
    """positive_int with a tighter ceiling (days: a century; a batch: what one statement should hold)."""

    def bounded(value: str) -> int:
        return positive_int(value, maximum)

    bounded.__name__ = "positive_int"  # argparse names the type in its message
    return bounded


DAYS = at_most(36_500)
BATCH = at_most(100_000)
SECONDS = at_most(10 * 366 * 24 * 3600)


def positive_seconds(value: str) -> float:
    """argparse type for a pause that must pass (a poll interval): more than 0, at most an hour."""
    number = non_negative_float(value)
    if number == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds above 0")
    return number


def non_negative_float(value: str) -> float:
    """argparse type for pauses in seconds: a finite number from 0 to an hour."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 3600:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds from 0 to 3600")
    return number


def split_names(value: str | None) -> list[str]:
    """`"admin, user"` → `["admin", "user"]`; empty items are dropped."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _id_or(value: str, **other: Any) -> Q:
    query = Q(**other)
    try:
        return query | Q(pk=uuid.UUID(value))
    except ValueError:
        return query


def _only(queryset: QuerySet[M], *, typed: str, missing: str, ambiguous: str) -> M:
    """The one row `queryset` finds for what was `typed`; text PostgreSQL cannot hold (a NUL byte)
    names nothing and is never sent to it."""
    found = list(queryset[:2]) if "\x00" not in typed else []
    if not found:
        raise CommandError(missing)
    if len(found) > 1:
        raise CommandError(ambiguous)
    return found[0]


def signing_key_lookup(value: str) -> SigningKey:
    """A signing key by id or by kid."""
    value = value.strip()
    return _only(
        SigningKey.objects.filter(_id_or(value, kid=value)),
        typed=value,
        missing=f"No key has the id or kid {value!r}.",
        ambiguous=f"{value!r} matches more than one key; pass the key id.",
    )


def tenant_lookup(value: str) -> Tenant:
    """A tenant by id or by name, ignoring case (the default tenant is named "Default")."""
    return _only(
        Tenant.objects.filter(_id_or(value, name__iexact=value.strip())),
        typed=value,
        missing=f"No tenant has the id or name {value!r}.",
        ambiguous=f"{value!r} matches more than one tenant; pass the tenant id.",
    )


def application_lookup(value: str, *, tenant: Tenant) -> Application:
    """An application by id (any tenant, so a mismatch is reported as such) or by name in `tenant`."""
    return _only(
        Application.objects.select_related("tenant").filter(
            _id_or(value, tenant=tenant, name__iexact=value.strip())
        ),
        typed=value,
        missing=f"No application has the id {value!r} or that name in tenant {tenant.name}.",
        ambiguous=f"{value!r} matches more than one application; pass the application id.",
    )


def user_lookup(value: str, *, tenant: Tenant | None = None) -> User:
    """A user by id or by email; an email is only unique per tenant, so `tenant` may narrow it."""
    users = User.objects.select_related("tenant").filter(_id_or(value, email_key=login_id_key(value)))
    if tenant is not None:
        users = users.filter(tenant=tenant)
    return _only(
        users,
        typed=value,
        missing=f"No user has the id or email {value!r}" + (f" in tenant {tenant.name}." if tenant else "."),
        ambiguous=f"Users of several tenants have the email {value!r}; pass the user id or --tenant.",
    )
