"""Start the resource server (tests/resource_server) as its own gunicorn process, with
tests/live.py's `start` (its own WSGI application and environment)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.live import LiveServer, start


def resource_env(config: Mapping[str, Any]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_", "IDENTITY_", "RS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.resource_server.settings", RS_TOKEN_AUTHORIZATION=json.dumps(config)
    )
    return env


def start_resource_server(
    *, config: Mapping[str, Any], log_dir: Path, workers: int = 1, ready_seconds: float = 30
) -> LiveServer:
    return start(
        wsgi="tests.resource_server.wsgi:application",
        process_env=resource_env(config),
        workers=workers,
        log_dir=log_dir,
        ready_seconds=ready_seconds,
        ready_path="/health",
    )
