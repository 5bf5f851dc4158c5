"""`manage.py create_login_backend`: a fastapi-users style login backend (`/auth/<name>/login`) of an
application, through the same service and validators as the API and the admin."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from identity.exceptions import errors_keyed
from identity.management.base import IdentityCommand, Report, application_lookup, tenant_lookup
from identity.models import Application, CookieSameSite, LoginTransport
from identity.selectors import tenant_get_default
from identity.serializers.login_backends import LoginBackendSerializer
from identity.services.login_backends import login_backend_create

# Service value → option, so a refusal names what the person typed.
OPTIONS = {
    "name": "--name",
    "transport": "--transport",
    "lifetime_seconds": "--lifetime-seconds",
    "cookie_name": "--cookie-name",
    "cookie_domain": "--cookie-domain",
    "cookie_path": "--cookie-path",
    "cookie_secure": "--cookie-insecure",
    "cookie_samesite": "--cookie-samesite",
}


def add_application_arguments(parser: CommandParser, *, required: bool) -> None:
    parser.add_argument("--application", required=required, help="Application id, or name with --tenant.")
    parser.add_argument(
        "--tenant", help="Tenant id or name, to find the application by name (default: the default tenant)."
    )


def application_of(options: dict[str, Any]) -> Application:
    """--application by id, or by name in --tenant (default: the default tenant); an id of
    another tenant than a --tenant given is refused, as rotate_client_secret refuses it."""
    tenant = tenant_lookup(options["tenant"]) if options["tenant"] else tenant_get_default()
    application = application_lookup(options["application"], tenant=tenant)
    if options["tenant"] and application.tenant_id != tenant.pk:
        raise CommandError(f"--application: {application.name} belongs to another tenant than {tenant.name}.")
    return application


class Command(IdentityCommand):
    help = (
        "Add a login backend to an application: POST /auth/<name>/login answers its access tokens "
        "in the body (bearer) or in a cookie. Options not given take the defaults."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_application_arguments(parser, required=True)
        parser.add_argument("--name", help="The path segment of /auth/<name>/login (default jwt).")
        parser.add_argument("--transport", choices=LoginTransport.values, help="bearer (default) or cookie.")
        parser.add_argument("--lifetime-seconds", type=int, help="Token lifetime (default 3600).")
        parser.add_argument("--cookie-name", help="Cookie transport: its name (default fastapiusersauth).")
        parser.add_argument("--cookie-domain", help="Cookie transport: its Domain (default: none).")
        parser.add_argument("--cookie-path", help="Cookie transport: its Path (default /).")
        parser.add_argument(
            "--cookie-insecure",
            action="store_true",
            help="Cookie transport: no Secure attribute in debug mode (always Secure otherwise).",
        )
        parser.add_argument(
            "--cookie-samesite", choices=CookieSameSite.values, help="Cookie transport: SameSite (lax)."
        )

    def perform(self, options: dict[str, Any]) -> Report:
        application = application_of(options)
        values = {
            field: options[field]
            for field in ("name", "transport", "lifetime_seconds", "cookie_name", "cookie_domain",
                          "cookie_path", "cookie_samesite")
            if options[field] is not None
        }  # fmt: skip
        if options["cookie_insecure"]:
            values["cookie_secure"] = False
        with errors_keyed(OPTIONS):
            backend = login_backend_create(application=application, **values)
        return Report(
            data={"loginBackend": LoginBackendSerializer(backend).data},
            summary=(
                f"Created login backend {backend.name} ({backend.transport}, {backend.lifetime_seconds} s) "
                f"of application {application.name}: POST /auth/{backend.name}/login"
            ),
        )
