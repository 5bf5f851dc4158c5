"""Django's request signals without the receivers that can do nothing under the settings in force.

Every request sends `request_started` and `request_finished`. Two of Django's own receivers there
do nothing in a production process of this project, yet cost about 63k instructions a request, 3 %
of a refresh token's exchange (bench/README.md, "Stop 30"):

- `django.db.reset_queries` empties each connection's query log, which Django writes only while
  DEBUG is on or a test captures queries (`CaptureQueriesContext`, which connects the receiver
  again when it ends);
- `django.core.cache.close_caches` calls `close()` on each cache in use, which only the memcached
  backends implement: every other backend (the memory cache, Redis) inherits BaseCache's no-op.

With DEBUG on, or a cache whose `close()` does something, Django's request cycle stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import close_caches
from django.core.cache.backends.base import BaseCache
from django.core.signals import request_finished, request_started
from django.db import reset_queries
from django.dispatch import Signal
from django.utils.module_loading import import_string


def request_cycle_trim(*, debug: bool, cache_backends: Iterable[str]) -> None:
    """Connect each of the two receivers only where it can do something: reset_queries while DEBUG
    is on, close_caches while some cache backend (a dotted path, as in CACHES) has a `close()` of
    its own. Called once at start-up (IdentityConfig.ready), with the settings then in force."""
    _keep(request_started, reset_queries, debug)
    closes = any(import_string(path).close is not BaseCache.close for path in cache_backends)
    _keep(request_finished, close_caches, closes)


def _keep(signal: Signal, receiver: Callable[..., Any], wanted: bool) -> None:
    if wanted:
        signal.connect(receiver)  # once: Django keys a receiver by its identity
    else:
        signal.disconnect(receiver)
