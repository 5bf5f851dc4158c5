"""Start the resource server (tests/resource_server) as its own gunicorn process."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.live import GUNICORN, HOST, ROOT, LiveServer, _free_port


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
    port = _free_port()
    log = log_dir / f"resource-server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            [str(GUNICORN), "tests.resource_server.wsgi:application", f"--bind={HOST}:{port}",
             f"--workers={workers}", "--log-level=warning"],
            cwd=ROOT,
            env=resource_env(config),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = LiveServer(port=port, process=process, log=log)
    deadline = time.monotonic() + ready_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"resource server exited ({process.returncode}):\n{server.log_tail()}")
        try:
            server.request("GET", "/health", timeout=2)
            return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"resource server did not answer within {ready_seconds:.0f} s:\n{server.log_tail()}")
