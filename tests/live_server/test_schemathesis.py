"""schemathesis against a live gunicorn server with a global key-manager API key: for every operation
of /api/schema/, examples from the schema and generated (valid and invalid) requests; no answer may be
a 5xx, and every answer must have a documented status, content type and shape.

Bounded for CI: 10 generated cases per operation, a fixed seed, two workers (about a minute on two
busy cores). Run it longer by hand when changing the API:

    IDENTITY_SCHEMATHESIS_EXAMPLES=100 DATABASE_URL=... .venv/bin/pytest \
        tests/live_server/test_schemathesis.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import World
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMATHESIS = Path(sys.executable).parent / "st"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_every_operation_answers_as_documented_and_never_5xx(gunicorn, world: World, tmp_path) -> None:
    server = gunicorn(workers=2)
    _, key = make_api_key(name="schemathesis", key_manager=True)
    examples = os.environ.get("IDENTITY_SCHEMATHESIS_EXAMPLES", "10")
    result = subprocess.run(  # noqa: S603 (our own command, no shell)
        [
            str(SCHEMATHESIS),
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
        timeout=600,
        cwd=tmp_path,  # its report and cache files stay out of the checkout
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    report = result.stdout[-12000:] + result.stderr[-4000:]
    assert result.returncode == 0, f"{report}\n--- server log ---\n{server.log_tail(60)}"
    assert " passed" in result.stdout, report
