"""`manage.py generate_signing_key`: a new JWT signing key, optionally made a tenant's signer."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from identity.management.base import IdentityCommand, Report, positive_int, tenant_lookup
from identity.models import KeyAlgorithm
from identity.selectors import tenant_get_default
from identity.services.signing_keys import signing_key_generate, tenant_signing_key_set


class Command(IdentityCommand):
    help = (
        "Generate a JWT signing key (private part encrypted at rest). An HMAC secret is printed once; "
        "an asymmetric key prints its public key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--tenant", help="Tenant id or name. Default: a global key usable by every tenant."
        )
        parser.add_argument("--algorithm", required=True, choices=KeyAlgorithm.values)
        parser.add_argument("--name", required=True, help="A label to recognise the key by.")
        parser.add_argument(
            "--length",
            type=positive_int,
            help="RSA: 2048, 3072 or 4096 bits (default 2048). HMAC: secret bytes (default: the hash size).",
        )
        parser.add_argument(
            "--make-default",
            action="store_true",
            help="Sign the tenant's tokens with it (the default tenant's, for a global key).",
        )

    def perform(self, options: dict[str, Any]) -> Report:
        algorithm = options["algorithm"]
        if options["length"] is not None and not algorithm.startswith(("RS", "HS")):
            raise CommandError(f"--length applies to RSA and HMAC keys only, not {algorithm}.")
        tenant = tenant_lookup(options["tenant"]) if options["tenant"] else None
        generated = signing_key_generate(
            tenant=tenant, algorithm=algorithm, name=options["name"], length=options["length"]
        )
        key = generated.key
        summary = f"Generated {key.algorithm} key {key.name} ({key.pk}), kid {key.kid}."
        if options["make_default"]:
            signer = tenant_signing_key_set(tenant=tenant or tenant_get_default(), key=key)
            summary += f" It now signs the tokens of tenant {signer.name}."
        data: dict[str, Any] = {
            "id": key.pk,
            "kid": key.kid,
            "algorithm": key.algorithm,
            "tenantId": key.tenant_id,
        }
        if generated.hmac_secret is None:
            data["publicKey"] = key.public_key
        else:
            data["secret"] = generated.hmac_secret
            summary += f"\nThe secret (base64url), shown only this once:\n{generated.hmac_secret}"
        return Report(data=data, summary=summary)
