"""config/gunicorn.conf.py: workers from the CPU count unless set, timeouts, and an access-log format
made only of atoms that cannot carry a secret."""

from __future__ import annotations

import multiprocessing
import re
import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"
UNSET = ("GUNICORN_WORKERS", "WEB_CONCURRENCY", "GUNICORN_BIND", "GUNICORN_GRACEFUL_TIMEOUT")


def _load(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, object]:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _load(monkeypatch)
    assert conf["workers"] == 2 * multiprocessing.cpu_count() + 1
    assert conf["bind"] == "127.0.0.1:8000"
    assert conf["graceful_timeout"] == 30
    assert conf["timeout"] == 30
    assert conf["accesslog"] == "-"


@pytest.mark.parametrize(
    ("env", "workers"),
    [
        ({"GUNICORN_WORKERS": "3"}, 3),
        ({"WEB_CONCURRENCY": "5"}, 5),
        ({"GUNICORN_WORKERS": "4", "WEB_CONCURRENCY": "9"}, 4),
    ],
)
def test_workers_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], workers: int
) -> None:
    assert _load(monkeypatch, **env)["workers"] == workers


def test_graceful_timeout_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _load(monkeypatch, GUNICORN_GRACEFUL_TIMEOUT="90")["graceful_timeout"] == 90


def test_access_log_format_has_no_atom_that_can_carry_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    atoms = set(re.findall(r"%\(([^)]+)\)s", str(_load(monkeypatch)["access_log_format"])))
    # r: request line with query; q: query; f: referer; {...}i / {...}e: request headers / environ.
    assert atoms <= {"h", "t", "m", "U", "H", "s", "B", "M", "a"}, atoms
    assert "U" in atoms
