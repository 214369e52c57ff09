"""Fixtures for the browser tests: real headless Chromium (Debian's, through Playwright),
and the whole Hotline served over HTTP with the Twilio stand-in and real workers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from hotline import users
from tests.conftest import WEB_PASSWORD
from tests.served import Line

#: Debian's Chromium; HOTLINE_CHROMIUM overrides it (Playwright cannot download one here).
CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
#: Wrap-up long enough to be seen on the console and ended by hand (the rest: FAST_ENV).
WRAPUP_SECONDS = "300"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM} (set HOTLINE_CHROMIUM)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: HOTLINE_SCREENSHOTS (docs/screenshots to refresh the docs), or
    a temporary directory."""
    target = Path(os.environ.get("HOTLINE_SCREENSHOTS") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


class Site(Line):
    """Hotline served over HTTP, with the stand-in Twilio and real workers, plus people."""

    def account(self, username: str, role: str, counselor_id: str = "") -> str:
        """A web account with WEB_PASSWORD; its username."""
        users.create_user(self.r, username, WEB_PASSWORD, role, counselor_id=counselor_id)
        return username

    def sign_in(self, page: Any, username: str) -> None:
        """Sign in through the form, as a person would."""
        page.goto(self.base + "/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(WEB_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()


@pytest.fixture
def site(start_line: Callable[..., Line]) -> Site:
    """Hotline on a free port, the stand-in connected at 50x speed, two real workers."""
    line = start_line(WRAPUP_SECONDS=WRAPUP_SECONDS)
    return Site(line.base, line.standin, line.r, line.workers)
