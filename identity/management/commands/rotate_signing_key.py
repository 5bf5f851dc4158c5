"""`manage.py rotate_signing_key`: a new signer for a tenant without logging anyone out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from identity.management.base import SECONDS, IdentityCommand, Report, positive_int, tenant_lookup
from identity.models import KeyAlgorithm
from identity.services.signing_keys import signer_retirement_deadline, signing_key_rotate


def _parse_instant(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--verify-until {value!r} is not an ISO 8601 date and time.")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


class Command(IdentityCommand):
    help = (
        "Generate a new signing key for a tenant and make it the signer. The previous signing keys stay "
        "trusted (and published in the JWKS) until --verify-until, by default the longest access-token "
        "lifetime from now plus five minutes, so no token in flight stops validating."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant id or name.")
        parser.add_argument("--algorithm", required=True, choices=KeyAlgorithm.values)
        parser.add_argument("--name", help="Name of the new key (default: '<tenant> <algorithm> <date>').")
        parser.add_argument("--length", type=positive_int, help="RSA bits or HMAC secret bytes.")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--verify-until", help="ISO 8601 instant until which the old keys stay trusted.")
        group.add_argument("--verify-for-seconds", type=SECONDS, help="Keep the old keys this long.")

    def perform(self, options: dict[str, Any]) -> Report:
        tenant = tenant_lookup(options["tenant"])
        now = timezone.now()
        if options["verify_until"]:
            until = _parse_instant(options["verify_until"])
        elif options["verify_for_seconds"]:
            until = now + timedelta(seconds=options["verify_for_seconds"])
        else:
            until = signer_retirement_deadline(tenant=tenant, now=now)
        previous = tenant.access_token_signing_key
        name = options["name"] or f"{tenant.name} {options['algorithm']} {now:%Y-%m-%d}"
        generated = signing_key_rotate(
            tenant=tenant,
            algorithm=options["algorithm"],
            name=name,
            verify_until=until,
            length=options["length"],
            now=now,
        )
        key = generated.key
        summary = f"Tenant {tenant.name} now signs with {key.algorithm} key {key.name}, kid {key.kid}."
        if previous is not None:
            summary += f" The previous key (kid {previous.kid}) stays trusted until {until.isoformat()}."
        data: dict[str, Any] = {
            "id": key.pk,
            "kid": key.kid,
            "algorithm": key.algorithm,
            "tenantId": tenant.pk,
            "previousKeyId": previous.pk if previous else None,
            "verifyUntil": until,
        }
        if generated.hmac_secret is not None:
            data["secret"] = generated.hmac_secret
            summary += f"\nThe new secret (base64url), shown only this once:\n{generated.hmac_secret}"
        return Report(data=data, summary=summary)
