"""The thread CPU a process spends inside argon2-cffi's `verify_secret` (a login's password hash),
for bench/inprocess.py and bench/sql_counter.py: a login's CPU split into the hash and the work
around it within the same requests. Two clock reads per verify."""

from __future__ import annotations

import time
from typing import Any


class HashClock:
    """Installs itself around argon2-cffi's `verify_secret` (ImportError without argon2-cffi);
    `seconds` adds up the thread CPU spent inside it. One per process."""

    def __init__(self) -> None:
        import argon2._password_hasher
        import argon2.low_level

        self.seconds = 0.0
        verify = argon2.low_level.verify_secret

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return verify(*args, **kwargs)
            finally:
                self.seconds += time.thread_time() - started

        argon2.low_level.verify_secret = timed
        argon2._password_hasher.verify_secret = timed  # PasswordHasher.verify's own reference
