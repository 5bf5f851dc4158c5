"""`manage.py seed_demo`: the demo data `make run` ensures on every start, and how to use it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.urls import NoReverseMatch, reverse

from identity.management.base import IdentityCommand, Report
from identity.services.demo import DemoSeed, default_credentials_file, demo_base_url, demo_seed

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def shell_exports(*, base_url: str, seed: DemoSeed) -> str:
    """One `export` line with the values the README's "Try it" commands use."""
    values = {
        "BASE": base_url,
        "TENANT": str(seed.tenant.pk),
        "APP": str(seed.application.pk),
        "API_KEY": seed.credentials.api_key,
        "DEMO_EMAIL": seed.demo_user.email,
        "DEMO_PASSWORD": seed.credentials.demo_password,
    }
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in values.items())


def login_curl(*, base_url: str, seed: DemoSeed) -> str | None:
    """A ready-to-paste login of the demo user, or None while this build serves no login API."""
    try:
        path = reverse("identity:login")
    except NoReverseMatch:
        return None
    body = {
        "loginId": seed.demo_user.email,
        "password": seed.credentials.demo_password,
        "applicationId": str(seed.application.pk),
    }
    return shlex.join(
        [
            "curl", "-s", "-X", "POST", base_url + path,
            "-H", f"Authorization: {seed.credentials.api_key}",
            "-H", "Content-Type: application/json",
            "-d", json.dumps(body, separators=(",", ":")),
        ]
    )  # fmt: skip


class Command(IdentityCommand):
    help = (
        "Create the demo tenant, application, users and API key if missing, and print working "
        "credentials. Safe to run on every start: a second run creates nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            help=(
                "Where the server listens; used in the printed URLs and as a new demo tenant's issuer "
                f"(default: the demo tenant's issuer, else {DEFAULT_BASE_URL})."
            ),
        )
        parser.add_argument(
            "--credentials-file",
            type=Path,
            default=default_credentials_file(),
            help="Where the demo secrets are kept between runs (default: %(default)s).",
        )

    def perform(self, options: dict[str, Any]) -> Report:
        base_url = (options["base_url"] or demo_base_url(fallback=DEFAULT_BASE_URL)).rstrip("/")
        path: Path = options["credentials_file"]
        try:
            seed = demo_seed(credentials_file=path, issuer=base_url)
        except OSError as exc:
            raise CommandError(f"Cannot write the credentials file {path}: {exc.strerror}.") from exc
        admin_url = base_url + reverse("admin:index")
        curl = login_curl(base_url=base_url, seed=seed)
        data = {
            "tenantId": seed.tenant.pk,
            "applicationId": seed.application.pk,
            "signingKeyId": seed.tenant.access_token_signing_key_id,
            "adminUrl": admin_url,
            "adminUserId": seed.admin.pk,
            "adminEmail": seed.admin.email,
            "adminPassword": seed.credentials.admin_password,
            "demoUserId": seed.demo_user.pk,
            "demoEmail": seed.demo_user.email,
            "demoPassword": seed.credentials.demo_password,
            "apiKeyId": seed.api_key.pk,
            "apiKey": seed.credentials.api_key,
            "loginCurl": curl,
            "shellExports": shell_exports(base_url=base_url, seed=seed),
            "credentialsFile": str(path),
            "changes": list(seed.changes),
        }
        changes = f"created or reset {', '.join(seed.changes)}" if seed.changes else "already in place"
        lines = [
            f"Demo data: {changes}.",
            f"Admin console: {admin_url}  email {seed.admin.email}"
            f"  password {seed.credentials.admin_password}",
            f"API key: {seed.credentials.api_key}",
            f"Demo user: {seed.demo_user.email}  password {seed.credentials.demo_password}"
            f"  (tenant {seed.tenant.name}, application {seed.application.name} {seed.application.pk})",
            f"Log the demo user in:\n{curl}"
            if curl
            else "The login API is not served by this build yet; the curl to try it is printed once it is.",
            f"OpenID discovery of the demo tenant (its tokens' issuer): "
            f"{base_url}/{seed.tenant.pk}/.well-known/openid-configuration",
            f'For the README\'s "Try it" commands, paste:\n{shell_exports(base_url=base_url, seed=seed)}',
            f"These credentials are kept in {path}.",
        ]
        return Report(data=data, summary="\n".join(lines))
