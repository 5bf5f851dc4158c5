"""schemathesis against a live gunicorn server with a global key-manager API key: for every operation
of /api/schema/, examples from the schema and generated (valid and invalid) requests; no answer may be
a 5xx, and every answer must have a documented status, content type and shape.

Path parameters name real objects (a tenant, an application with roles and a login backend, a user
with a registration, a session and a personal access token, a signing key, an API key, a webhook),
and X-FusionAuth-TenantId their tenant, so the generated bodies and queries reach the code behind
the 404: without them 45 of 104 operations only ever answered 404. DELETE keeps generated ids, so
the objects stay for the other operations whatever order the workers run them in.

Bounded for CI: 10 generated cases per operation, a fixed seed, two workers (about 90 s on two
busy cores). Run it longer by hand when changing the API:

    IDENTITY_SCHEMATHESIS_EXAMPLES=100 DATABASE_URL=... .venv/bin/pytest \
        tests/live_server/test_schemathesis.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from identity.openapi import OPERATIONS
from tests.conftest import World
from tests.factories import make_api_key
from tests.live import LiveServer, world_login

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMATHESIS = Path(sys.executable).parent / "st"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _created(server: LiveServer, key: str, path: str, body: dict) -> dict:
    answer = server.request("POST", path, json_body=body, headers={"Authorization": key})
    assert answer.status == 200, (path, answer.body, server.log_tail())
    return answer.json()


def _identifiers(server: LiveServer, world: World, key: str) -> dict[str, dict[str, str]]:
    """Real objects behind each path parameter, by path prefix for the ambiguous `{id}`."""
    application = world.application
    backend = _created(
        server, key, f"/api/application/{application.pk}/login-backend",
        {"loginBackend": {"name": "st", "transport": "bearer"}},
    )["loginBackend"]  # fmt: skip
    webhook = _created(
        server, key, "/api/webhook", {"webhook": {"url": "https://hooks.example.com/in", "global": True}}
    )["webhook"]
    token = _created(
        server, key, f"/api/user/{world.user.pk}/access-token", {"name": "st", "JWTTokenExpiry": "30"}
    )["accessToken"]
    login = world_login(server, world)
    assert login.status == 200, login.body
    other_key, _ = make_api_key(name="fuzzed")
    shared = {
        "user_id": str(world.user.pk),
        "application_id": str(application.pk),
        "role_id": str(application.roles.get(name="user").pk),
        "backend_id": backend["id"],
        "tenant_id": str(world.tenant.pk),
        "name": backend["name"],
    }
    ids = {
        "/api/user/{user_id}/access-token/": token["id"],
        "/api/user/": str(world.user.pk),
        "/api/application/": str(application.pk),
        "/api/tenant/": str(world.tenant.pk),
        "/api/key/": str(world.tenant.access_token_signing_key_id),
        "/api/api-key/": str(other_key.pk),
        "/api/webhook/": webhook["id"],
        "/api/jwt/refresh/": login.json()["refreshTokenId"],
    }
    return {"shared": shared, "id": ids}


def _config(identifiers: dict[str, dict[str, str]]) -> str:
    """schemathesis.toml: one [[operations]] entry per templated path, for every method but DELETE."""
    entries = []
    for path in sorted({path for _, path in OPERATIONS}):
        names = re.findall(r"{(\w+)}", path)
        values = {name: identifiers["shared"][name] for name in names if name in identifiers["shared"]}
        if "id" in names:
            prefix = next((p for p in identifiers["id"] if path.startswith(p)), None)
            if prefix is not None and not path.startswith(("/api/key/generate/", "/api/key/import/")):
                values["id"] = identifiers["id"][prefix]
        if not values:
            continue
        # The objects' own tenant: a generated X-FusionAuth-TenantId names another, so 404 again.
        # (The API key under /api/api-key/ is global: no tenant sees it.)
        located = {f"path.{n}": value for n, value in values.items()}
        if path.startswith("/api/") and not path.startswith("/api/api-key/"):
            located["header.X-FusionAuth-TenantId"] = identifiers["shared"]["tenant_id"]
        parameters = ", ".join(f"{json.dumps(n)} = {json.dumps(v)}" for n, v in sorted(located.items()))
        entries.append(
            f"[[operations]]\ninclude-path = {json.dumps(path)}\n"
            # Filters of one entry: the includes are or-ed, the excludes and-ed (schemathesis.filters).
            f'exclude-method = "DELETE"\nparameters = {{ {parameters} }}\n'
        )
    return "\n".join(entries)


def test_every_operation_answers_as_documented_and_never_5xx(gunicorn, world: World, tmp_path) -> None:
    server = gunicorn(workers=2)
    _, key = make_api_key(name="schemathesis", key_manager=True)
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(_identifiers(server, world, key)))
    examples = os.environ.get("IDENTITY_SCHEMATHESIS_EXAMPLES", "10")
    result = subprocess.run(  # noqa: S603 (our own command, no shell)
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{server.url}/api/schema/?format=json",
            "--header",
            f"Authorization: {key}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            examples,
            "--seed",
            "1",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,  # its report and cache files stay out of the checkout
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    report = result.stdout[-12000:] + result.stderr[-4000:]
    assert result.returncode == 0, f"{report}\n--- server log ---\n{server.log_tail(60)}"
    # Every operation of the document was run, none filtered out or skipped.
    total = len(OPERATIONS)
    assert f"Selected: {total}/{total}" in result.stdout, report
    assert f"Tested: {total}" in result.stdout, report
    assert " passed" in result.stdout, report
    # The real identifiers took: operations answering mostly 404 are the DELETEs (generated ids, 9)
    # and the logins with generated login ids (2), not the 45 of a run without identifiers.
    missing = re.search(r"Missing test data: (\d+) operation", result.stdout)
    assert (int(missing.group(1)) if missing else 0) <= 15, report
