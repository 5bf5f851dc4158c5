from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.live import LiveServer
from tests.resource_server.server import start_resource_server


@pytest.fixture
def resource_server(tmp_path) -> Iterator[Callable[..., LiveServer]]:  # type: ignore[no-untyped-def]
    """`resource_server(config={...})`: the second Django project under gunicorn, stopped after."""
    servers: list[LiveServer] = []

    def start(*, config: dict[str, Any], workers: int = 1) -> LiveServer:
        server = start_resource_server(config=config, log_dir=tmp_path, workers=workers)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
