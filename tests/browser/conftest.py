"""A real browser against a real server: Debian's Chromium (never a downloaded browser) driven by
Playwright for Python, against gunicorn started as `make serve` runs it (DEBUG off, hashed static
files). Any request the page makes to another host is blocked and fails the test: the console and
the API docs must work offline.

Chromium comes from `apt-get install -y chromium` (`.ci/run` installs it when missing). Screenshots
go to the git-ignored `var/screenshots/`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path(os.environ.get("IDENTITY_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "var" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on this thread, which Django's async-safety check
    # mistakes for async code; the test's own ORM calls are plain synchronous ones. For this
    # module only (the servers' environment drops DJANGO_* variables anyway).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield launched
            finally:
                launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(gunicorn: Any, browser: Any) -> Iterator[Any]:
    """A fresh browser context on a production-mode server; `page.server` is the LiveServer.
    Requests to any other host are aborted and listed in `page.foreign_requests`. (`gunicorn` first:
    on SQLite the live tests are skipped before Chromium is looked for; on PostgreSQL a missing
    Chromium fails.)"""
    server = gunicorn(workers=1, production=True)
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(15_000)
    foreign: list[str] = []
    ours = urlsplit(server.url).netloc

    def only_ours(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == ours or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    context.route("**/*", only_ours)
    tab = context.new_page()
    tab.server = server
    tab.foreign_requests = foreign
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
