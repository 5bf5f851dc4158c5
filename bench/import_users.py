"""User import benchmark: how long FusionAuth-shaped imports of N users (each with a pbkdf2 hash and
one registration) take, through the service alone and through POST /api/user/import. It prints
figures; it asserts nothing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/identity_<name> \\
        .venv/bin/python bench/import_users.py [--users 10000] [--rounds 1]

Runs in-process against DATABASE_URL (migrated first), in a tenant of its own that it deletes
afterwards. "parse" is the serializer reading the request, "service" users_import (validation,
duplicate checks against the database, bulk INSERTs, commit), "http" the whole request through
Django's test client (JSON parsing, API-key check, serializer, service).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django

django.setup()

from django.core.management import call_command
from django.db import connection
from django.test import Client

from identity.models import Tenant, User
from identity.serializers.user_import import import_request
from identity.services.api_keys import api_key_create
from identity.services.applications import RoleSpec, application_create
from identity.services.tenants import tenant_create
from identity.services.user_import import users_import


def _body(count: int, application_id: str, tag: str) -> dict:
    """FusionAuth's import body; a few distinct hashes (hashing is not what an import costs)."""
    hashes = []
    for n in range(8):
        salt = base64.b64encode(secrets.token_bytes(16)).decode()
        digest = hashlib.pbkdf2_hmac("sha256", f"passphrase {n}".encode(), base64.b64decode(salt), 24_000)
        hashes.append((salt, base64.b64encode(digest).decode()))
    users = []
    for i in range(count):
        salt, digest = hashes[i % len(hashes)]
        users.append({
            "email": f"user{i}.{tag}@example.com", "username": f"user{i}.{tag}", "firstName": f"First{i}",
            "lastName": "Imported", "password": digest, "salt": salt, "factor": 24_000,
            "encryptionScheme": "salted-pbkdf2-hmac-sha256", "verified": True,
            "registrations": [{"applicationId": application_id, "roles": ["user"]}],
        })  # fmt: skip
    return {"users": users, "validateDbConstraints": True}


def _world(tag: str) -> tuple[Tenant, str, str]:
    tenant = tenant_create(name=f"bench import {tag}", issuer=f"https://bench-{tag}.example.com")
    application = application_create(tenant=tenant, name="Portal", roles=[RoleSpec("user", is_default=True)])
    _, key = api_key_create(tenant=tenant, name=f"bench import {tag}")
    return tenant, str(application.pk), key


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SystemExit(message)


def _round(count: int) -> dict[str, float]:
    tag = secrets.token_hex(4)
    tenant, application_id, key = _world(tag)
    try:
        body = _body(count, application_id, tag)
        started = time.perf_counter()
        parsed = import_request(body)
        parse = time.perf_counter() - started
        started = time.perf_counter()
        users_import(tenant=tenant, users=parsed.users, validate_db_constraints=True)
        service = time.perf_counter() - started
        _check(User.objects.filter(tenant=tenant).count() == count, "the service did not import everyone")
        User.objects.filter(tenant=tenant).delete()
        http_body = json.dumps(_body(count, application_id, tag + "h"))
        started = time.perf_counter()
        response = Client().post("/api/user/import", http_body, content_type="application/json",
                                 HTTP_AUTHORIZATION=key)  # fmt: skip
        http = time.perf_counter() - started
        _check(response.status_code == 200, response.content[:500].decode())
        _check(User.objects.filter(tenant=tenant).count() == count, "the API did not import everyone")
        return {"parse": parse, "service": service, "http": http, "body_mb": len(http_body) / 1e6}
    finally:
        tenant.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(f"user import, {args.users} users with one registration each; {platform.python_version()}, "
          f"{connection.vendor} {connection.settings_dict['NAME']}, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'round':>5} {'parse s':>9} {'service s':>10} {'http s':>8} {'body MB':>8} {'users/s':>8}")
    for n in range(1, args.rounds + 1):
        r = _round(args.users)
        print(f"{n:>5} {r['parse']:>9.2f} {r['service']:>10.2f} {r['http']:>8.2f} {r['body_mb']:>8.1f} "
              f"{args.users / r['http']:>8.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
