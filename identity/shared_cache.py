"""How a process treats the shared cache (Redis, with `REDIS_URL`) when it fails: not as a reason to
fail or stall requests.

Everything kept in the shared cache has a database fallback or may go uncounted for a moment (the
coherence versions of identity.key_store, the throttles' counters). What must not happen is every
request waiting on a hung Redis: its client's timeouts are short (settings: `REDIS_TIMEOUT_SECONDS`),
and after one failure `BREAKER` makes this process skip the cache for `OPEN_SECONDS`, reading the
database fallback instead, with one warning per opening that names the failure.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)

OPEN_SECONDS = 5.0


class Breaker:
    """Per process: after a failure the cache is not tried for `OPEN_SECONDS`."""

    def __init__(self) -> None:
        self._open_until = float("-inf")
        self._lock = threading.Lock()

    def available(self) -> bool:
        """Whether the cache may be tried now (closed, or its pause is over)."""
        return time.monotonic() >= self._open_until

    def failed(self, exc: BaseException, *, fallback: str) -> None:
        """The cache just failed (`exc`); say once what happens instead (`fallback`) and pause it."""
        with self._lock:
            now = time.monotonic()
            opening = now >= self._open_until
            self._open_until = now + OPEN_SECONDS
        if opening:
            logger.warning(
                "shared cache failed (%s: %s); %s; not tried again for %.0f s",
                type(exc).__name__,
                exc,
                fallback,
                OPEN_SECONDS,
            )

    def reset(self) -> None:
        """Closed again at once (tests, and a process that knows the cache is back)."""
        with self._lock:
            self._open_until = float("-inf")


BREAKER = Breaker()
