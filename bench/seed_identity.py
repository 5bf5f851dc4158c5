"""Seed the identity service for bench/run_http.py, through the services (not raw SQL).

Reads JSON on stdin: `{"algorithm": "ES256", "users": [{"email": ..., "password": ...}, ...]}`
and prints JSON: the tenant, the two applications (Reusable and OneTimeUse refresh tokens), one
application per validate algorithm (its own access-token key: HS256, RS256, ES256, EdDSA), the
users' ids, a personal access token per user (up to 16), a tenant-locked API key and an OAuth2
client's id and secret. Run with the environment
bench/run_http.py builds (DATABASE_URL, DJANGO_SETTINGS_MODULE, secrets); it refuses to run on a
non-bench database.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings
from django.db import transaction

from identity.models import UsagePolicy
from identity.services.api_keys import api_key_create
from identity.services.applications import RoleSpec, application_create
from identity.services.oauth_clients import oauth_client_configure
from identity.services.personal_access_tokens import pat_create
from identity.services.registrations import registration_create
from identity.services.signing_keys import signing_key_generate, tenant_signing_key_set
from identity.services.tenants import tenant_create
from identity.services.users import user_create

ROLE = "user"
VALIDATE_ALGORITHMS = ("HS256", "RS256", "ES256", "EdDSA")
PATS = 16


@transaction.atomic
def seed(*, algorithm: str, users: list[dict[str, str]]) -> dict[str, object]:
    tenant = tenant_create(name="Bench", issuer="http://127.0.0.1")
    key = tenant.access_token_signing_key
    if key is None or key.algorithm != algorithm:
        key = signing_key_generate(tenant=tenant, algorithm=algorithm, name=f"Bench {algorithm}").key
        tenant = tenant_signing_key_set(tenant=tenant, key=key)
    refresh_on = {"generate_refresh_tokens": True, "allow_token_refresh": True}
    reusable = application_create(
        tenant=tenant, name="Bench Reusable", roles=[RoleSpec(name=ROLE, is_default=True)], **refresh_on
    )
    # The tenant keeps FusionAuth's default (Reusable); this application overrides it.
    one_time = application_create(
        tenant=tenant,
        name="Bench OneTimeUse",
        roles=[RoleSpec(name=ROLE, is_default=True)],
        jwt_enabled=True,
        refresh_token_usage_policy=UsagePolicy.ONE_TIME_USE,
        **refresh_on,
    )
    # One application per algorithm, signing its access tokens with its own key.
    by_algorithm = {
        name: application_create(
            tenant=tenant,
            name=f"Bench validate {name}",
            roles=[RoleSpec(name=ROLE, is_default=True)],
            jwt_enabled=True,
            access_token_signing_key=signing_key_generate(
                tenant=tenant, algorithm=name, name=f"Bench validate {name}"
            ).key,
        )
        for name in VALIDATE_ALGORITHMS
    }
    ids, pats = [], []
    for spec in users:
        user = user_create(tenant=tenant, email=spec["email"], password=spec["password"])
        for application in (reusable, one_time, *by_algorithm.values()):
            registration_create(user=user, application=application, roles=[ROLE])
        ids.append(str(user.pk))
        if len(pats) < PATS:
            pats.append(pat_create(user=user, name="bench", expiry="30", scopes=[ROLE]).value)
    _, api_key = api_key_create(tenant=tenant, name="bench", description="bench/run_http.py")
    # An OAuth2 client (client_credentials, secret in the body); its throttle is counted on every
    # grant but set above what the bench can reach.
    client = application_create(tenant=tenant, name="Bench OAuth client")
    configured = oauth_client_configure(application=client, token_requests_per_minute=10_000_000)
    return {
        "tenantId": str(tenant.pk),
        "signingAlgorithm": str(key.algorithm),
        "reusableApplicationId": str(reusable.pk),
        "oneTimeUseApplicationId": str(one_time.pk),
        "validateApplicationIds": {name: str(app.pk) for name, app in by_algorithm.items()},
        "userIds": ids,
        "pats": pats,
        "apiKey": api_key,
        "oauthClientId": str(client.pk),
        "oauthClientSecret": configured.client_secret,
    }


def main() -> None:
    if not str(settings.DATABASES["default"]["NAME"]).startswith("bench_"):
        raise SystemExit("seed_identity.py only seeds a bench_* database.")
    spec = json.load(sys.stdin)
    print(json.dumps(seed(algorithm=spec["algorithm"], users=spec["users"])))


if __name__ == "__main__":
    main()
