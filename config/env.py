"""Reading the environment. Only `config/` reads `os.environ`; the app reads Django settings."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


def load_env_file(path: Path) -> None:
    """Load `KEY=value` lines from a git-ignored local file; the real environment always wins.

    `make run` writes such a file (`.env`) with a generated secret key and key-encryption key so a
    newcomer's server restarts with the same keys and can still decrypt its signing keys.
    """
    if not path.is_file():
        return
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in TRUE_VALUES:
        return True
    if lowered in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    """A positive, finite number of seconds (or other unit), `default` when unset."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc
    if not 0 < number < float("inf"):
        raise ImproperlyConfigured(f"{name} must be a positive number, got {value!r}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_map(name: str) -> dict[str, str]:
    """`KEY=value,KEY=value` (spaces around items ignored); an empty or absent variable is {}."""
    value = os.environ.get(name) or ""
    pairs: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ImproperlyConfigured(f"{name} must be KEY=value pairs separated by commas, got {item!r}")
        pairs[key.strip()] = text.strip()
    return pairs
