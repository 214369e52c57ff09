"""A callback coming in is announced on the console: the tab title flashes and a desktop
notification is shown (the sound plays too, through Web Audio), each switchable off."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Site
from tests.conftest import wait_until
from tests.served import Line
from twilio_standin import Script

pytestmark = pytest.mark.browser

COUNSELOR_PHONE = "+12125550121"
CALLER = "+14155550122"
IVR_EN = ("1", "1", "2", "1", "1")

#: The browser boundary: record each Notification the page constructs, and each title.
RECORD = """
window.__notifications = [];
window.__titles = [];
const Real = window.Notification;
class Recording extends Real {
  constructor(title, options) {
    window.__notifications.push({ title: title, body: (options || {}).body || "" });
    super(title, options);
  }
}
window.Notification = Recording;
new MutationObserver(() => {
  if (document.title !== window.__titles[window.__titles.length - 1]) {
    window.__titles.push(document.title);
  }
}).observe(document, { childList: true, characterData: true, subtree: true });
"""


def test_a_callback_coming_in_flashes_the_title_and_notifies(
    browser: Any, start_line: Callable[..., Line]
) -> None:
    # The counselor's phone rings for 5 s of real time (250 s of call time at 50x).
    line = start_line(WRAPUP_SECONDS="300", COUNSELOR_RING_SECONDS="600")
    site = Site(line.base, line.standin, line.r, line.workers)
    site.standin.phone(COUNSELOR_PHONE, Script.answers("1", ring_seconds=250, talk_seconds=300))
    created = site.api(
        "POST",
        "/api/counselors",
        {"name": "Ana", "phone": COUNSELOR_PHONE, "languages": ["en"], "insurance": []},
    )
    assert created.status_code == 201, created.text
    site.account("ana", "counselor", created.json()["id"])
    context = browser.new_context(permissions=["notifications"])
    context.grant_permissions(["notifications"], origin=site.base)
    context.add_init_script(RECORD)
    page = context.new_page()
    try:
        site.sign_in(page, "ana")
        expect(page).to_have_url(re.compile(r"/console/$"))
        prefs = page.locator("#alert-prefs")
        expect(prefs).to_be_visible()
        for name in ("Play a sound", "Flash the tab title", "Desktop notification"):
            expect(prefs.get_by_label(name)).to_be_checked()
        assert page.evaluate("Notification.permission") == "granted"

        call = site.calls_in(CALLER, IVR_EN, Script.answers(talk_seconds=300))
        site.lead_of(call)
        wait_until(lambda: site.r.zcard("hotline:waiting") == 1, 30)
        page.get_by_role("button", name="Available").click()
        expect(page.locator("#my-state")).to_have_text("Phone ringing", timeout=5000)
        expect(page.locator("#live-call")).to_have_attribute("data-phase", "ringing")
        lead_id = page.locator("#live-call").get_attribute("data-lead")
        wait_until(lambda: page.evaluate("window.__notifications.length") == 1, 5)
        [shown] = page.evaluate("window.__notifications")
        assert shown["title"] == f"Hotline: callback {lead_id}"
        assert CALLER not in str(shown) and CALLER[-4:] not in str(shown)  # nothing private
        titles = page.evaluate("window.__titles")
        assert any(t.startswith("(1) Callback ringing") for t in titles), titles

        # Answered: the title is the page's own again, and no second notification.
        expect(page.locator("#my-state")).to_have_text("On a call", timeout=15000)
        expect(page).to_have_title("Console · Hotline")
        assert page.evaluate("window.__notifications.length") == 1

        # Switched off, and still off after a reload.
        prefs.get_by_label("Desktop notification").uncheck()
        page.reload()
        prefs = page.locator("#alert-prefs")
        expect(prefs.get_by_label("Desktop notification")).not_to_be_checked()
        expect(prefs.get_by_label("Play a sound")).to_be_checked()
    finally:
        context.close()
