"""How the identity commands talk to people and to scripts.

People get tables (rich) on standard output and a progress bar on standard error while long work
runs; scripts pass `--json` and get one JSON document on standard output and nothing on standard
error. A bar is drawn only when standard error is a terminal and `--json` is off, so cron mail, CI
logs and pipes never fill with carriage returns. Log lines of the per-process key stores ("keys
store rebuilt ...") are for the servers' logs, not a command's output: commands hide them unless run
with `--verbosity 2` or more.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# Loggers whose INFO lines describe a server process's caches, not what a command did.
SERVER_LOGGERS = ("identity.key_store",)
# Wide enough that a table piped to a file or `less` is not wrapped at 80 columns.
PIPE_WIDTH = 200


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def console_for(stream: Any) -> Console:
    """A rich console writing to `stream` (a command's self.stdout, or a plain file object):
    colours and the terminal's width at a terminal, plain text PIPE_WIDTH wide elsewhere."""
    target: IO[str] = getattr(stream, "_out", stream)  # Django's OutputWrapper keeps the file in _out
    terminal = _is_terminal(target)
    return Console(
        file=target,
        width=None if terminal else PIPE_WIDTH,
        no_color=not terminal,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )


def table(*, columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    """A table of `columns`; None cells print as "-", everything else as str()."""
    shown = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, header_style="bold")
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*("-" if cell is None or cell == "" else str(cell) for cell in row))
    return shown


@contextmanager
def progress(*, total: int | None, unit: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`. Draws a bar on standard error when `enabled` (callers pass `not json`)
    and standard error is a terminal; otherwise `advance` does nothing. `total=None` is open-ended
    work (a running count, no bar to fill); `total=0` draws nothing."""
    if not (enabled and total != 0 and _is_terminal(sys.stderr)):
        yield lambda n: None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=False,
    )
    with bar:
        task = bar.add_task(unit, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def server_logs_hidden(verbosity: int) -> Iterator[None]:
    """Below verbosity 2, raise SERVER_LOGGERS to WARNING for the command's run (warnings, such
    as an unreachable cache, still show)."""
    if verbosity >= 2:
        yield
        return
    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
