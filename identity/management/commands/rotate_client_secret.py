"""`manage.py rotate_client_secret`: a new OAuth client secret, printed once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from identity.management.base import IdentityCommand, Report, application_lookup, tenant_lookup
from identity.services.oauth_clients import MAX_OVERLAP_SECONDS, oauth_client_secret_rotate


class Command(IdentityCommand):
    help = (
        "Give an OAuth client (an application with an oauthConfiguration) a new client secret and print "
        "it once. With --overlap-seconds the previous secret keeps working that long, so clients can be "
        "redeployed without downtime; otherwise it stops at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant id or name.")
        parser.add_argument("--application", required=True, help="Application (client) id or name.")
        parser.add_argument(
            "--overlap-seconds",
            type=int,
            default=0,
            help=f"How long the previous secret still works (0 to {MAX_OVERLAP_SECONDS}; default 0).",
        )

    def perform(self, options: dict[str, Any]) -> Report:
        tenant = tenant_lookup(options["tenant"])
        application = application_lookup(options["application"], tenant=tenant)
        if application.tenant_id != tenant.pk:
            raise CommandError(f"Application {application.pk} belongs to another tenant.")
        now = timezone.now()
        secret = oauth_client_secret_rotate(
            application=application, overlap_seconds=options["overlap_seconds"], now=now
        )
        overlap = options["overlap_seconds"]
        return Report(
            data={
                "clientId": application.pk,
                "clientSecret": secret,
                "previousSecretWorksForSeconds": overlap,
            },
            summary=(
                f"New client secret of {application.name} ({application.pk}): {secret}\n"
                "It is shown only now. "
                + (
                    f"The previous secret works for {overlap} more seconds."
                    if overlap
                    else "The previous secret no longer works."
                )
            ),
        )
