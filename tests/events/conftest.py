from __future__ import annotations

import pytest

from tests.events.receiver import Receiver, start_receiver


@pytest.fixture
def receiver() -> Receiver:
    started = start_receiver()
    yield started
    started.server.shutdown()
    started.server.server_close()


@pytest.fixture(autouse=True)
def _no_backoff(settings) -> None:
    """Retries are due at once, so a test drives them by calling the worker again."""
    settings.IDENTITY_WEBHOOK_BACKOFF_BASE_SECONDS = 0
