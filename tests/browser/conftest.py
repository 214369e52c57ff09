"""Fixtures for the browser tests: real headless Chromium (Debian's, through Playwright),
and the whole Hotline served over HTTP with the Twilio stand-in and real workers."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from hotline import users
from hotline.app import create_app
from hotline.services import build_services
from settings import load_settings
from tests.conftest import API_TOKEN, WEB_PASSWORD, WorkerProcesses

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
#: Timers short enough for a test, wrap-up long enough to be seen and ended by hand.
FAST_ENV = {
    "COUNSELOR_RING_SECONDS": "5",
    "CALLER_RING_SECONDS": "5",
    "RETRY_DELAYS": "1,1",
    "WRAPUP_SECONDS": "300",
    "SWEEP_INTERVAL": "1",
    "CALLS_PER_SECOND": "100",
    "LEASE_SECONDS": "30",
}


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


@dataclass
class Site:
    """Hotline served over HTTP, with the stand-in Twilio and real workers."""

    base: str
    standin: Any
    r: redis.Redis

    def api(self, method: str, path: str, json: Any = None) -> requests.Response:
        """The JSON API with the bearer token (set-up only; the test drives the browser)."""
        return requests.request(
            method,
            self.base + path,
            json=json,
            timeout=10,
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )

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
def site(
    standin: Any, env: dict[str, str], r: redis.Redis, workers: WorkerProcesses
) -> Iterator[Site]:
    """Serve Hotline on a free port (its PUBLIC_BASE_URL), connect the stand-in to it and
    start two real workers."""
    holder: dict[str, Any] = {}
    # Bind first so PUBLIC_BASE_URL (what the stand-in signs) is known before the app.
    server = make_server("127.0.0.1", 0, lambda e, s: holder["app"](e, s), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    env.update(FAST_ENV)
    env["PUBLIC_BASE_URL"] = base
    settings = load_settings(env)
    holder["app"] = create_app(settings, build_services(settings))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    standin.clock.set_factor(50.0)
    standin.connect(base)
    workers.start(2)
    yield Site(base, standin, r)
    standin.stop()
    workers.stop()
    server.shutdown()
    server.server_close()
