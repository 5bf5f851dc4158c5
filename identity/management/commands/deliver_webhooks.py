"""`manage.py deliver_webhooks`: the outbox worker. Runs until SIGTERM/SIGINT (finishing the batch in
hand), or with `--once` until nothing is due (for cron). Several may run side by side."""

from __future__ import annotations

import json
import os
import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import CommandParser
from django.db import close_old_connections

from identity.management.base import BATCH, IdentityBaseCommand, positive_seconds
from identity.management.output import progress
from identity.services.webhooks import webhook_deliveries_send


class Command(IdentityBaseCommand):
    help = (
        "Deliver queued webhook events (signed, retried with back-off). Long-running; stops cleanly "
        "on SIGTERM or Ctrl-C after the current batch. --once delivers what is due and exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Deliver what is due, then exit.")
        parser.add_argument("--batch-size", type=BATCH, default=20)
        parser.add_argument(
            "--poll-seconds",
            type=positive_seconds,
            default=1.0,
            help="Pause when nothing is due (default 1).",
        )
        parser.add_argument(
            "--json", action="store_true", help='Print only a JSON summary at the end: {"attempts": N}.'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stopping = False
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        attempted = 0
        if not options["json"]:
            pid = os.getpid()
            self.stdout.write(f"Delivering webhook events (pid {pid}); SIGTERM stops after the batch.")
            self.stdout.flush()
        try:
            # Open-ended work: a running count of attempts at a terminal, nothing otherwise.
            with progress(total=None, unit="delivery attempts", enabled=not options["json"]) as advance:
                while not self.stopping:
                    count = webhook_deliveries_send(batch_size=options["batch_size"])
                    attempted += count
                    advance(count)
                    if count:
                        continue
                    if options["once"]:
                        break
                    close_old_connections()
                    self._pause(options["poll_seconds"])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if options["json"]:
            self.stdout.write(json.dumps({"attempts": attempted}))
        else:
            self.stdout.write(f"{attempted} delivery attempts.")

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, seconds))
