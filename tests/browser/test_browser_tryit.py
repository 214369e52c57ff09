"""The try-it page in a real browser: dial the hotline through the stand-in from the
keypad, read the IVR, press keys, and watch the callback arrive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site
from twilio_standin import Script

pytestmark = pytest.mark.browser

COUNSELOR_PHONE = "+12125550102"
#: The keys a person presses after each prompt: English, for myself, not urgent, Medicaid,
#: call me back on this number.
KEYS = ("1", "1", "2", "3", "1")


def press(page: Page, key: str, pressed: int) -> None:
    """Wait for the menu to ask, press ``key`` on the on-screen keypad, and see it shown
    (the ``pressed``-th key of the call)."""
    status = page.locator("#call-status")
    expect(status).to_have_text("On the call: press a key.", timeout=20000)
    page.locator(f'.keypad .key[data-key="{key}"]').click()
    expect(page.locator("#transcript li.pressed")).to_have_count(pressed, timeout=20000)
    expect(status).not_to_have_text("On the call: press a key.")


def test_keypad_call_reads_the_ivr_and_the_callback_arrives(
    browser: Any, site: Site, screenshots: Path
) -> None:
    created = site.api(
        "POST",
        "/api/counselors",
        {"name": "Lee Park", "phone": COUNSELOR_PHONE, "languages": ["en"], "insurance": []},
    )
    assert created.status_code == 201, created.text
    counselor_id = created.json()["id"]
    # Prompts read four times faster than real speech; keys are pressed as a person would.
    site.standin.clock.set_factor(4.0)
    site.standin.phone(COUNSELOR_PHONE, Script.answers("1", talk_seconds=2))
    assert site.api("POST", f"/api/counselors/{counselor_id}/status", {"status": "available"}).ok
    site.account("sam", "supervisor")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        site.sign_in(page, "sam")
        page.goto(site.base + "/try-it")
        expect(page.get_by_role("heading", name="Try the hotline")).to_be_visible()
        expect(page.locator(".keypad .key").first).to_be_disabled()  # not on a call yet
        page.get_by_role("button", name="Call the hotline").click()
        # The emergency notice comes first, before any menu.
        transcript = page.locator("#transcript")
        expect(transcript).to_contain_text("dial 9 1 1", timeout=20000)
        expect(transcript).to_contain_text("9 8 8")
        for pressed, key in enumerate(KEYS, start=1):
            press(page, key, pressed)
        # The close: a place in line, then the hotline hangs up.
        expect(transcript).to_contain_text("in line", timeout=20000)
        expect(page.locator("#call-status")).to_have_text("The call has ended.", timeout=20000)
        # The callback rings the same phone and reaches the counselor.
        callbacks = page.locator("#callbacks")
        expect(callbacks).to_contain_text("Callback 1", timeout=30000)
        expect(callbacks).to_contain_text("connected to the counselor", timeout=30000)
        page.screenshot(path=screenshots / "tryit.png", full_page=True)
    finally:
        context.close()


def test_a_key_pressed_during_a_prompt_stops_it(browser: Any, site: Site) -> None:
    site.standin.clock.set_factor(1.0)  # prompts at the speed of speech: the welcome ~20 s
    site.account("sam", "supervisor")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        site.sign_in(page, "sam")
        page.goto(site.base + "/try-it")
        page.get_by_role("button", name="Call the hotline").click()
        transcript = page.locator("#transcript")
        expect(transcript).to_contain_text("dial 9 1 1", timeout=20000)
        page.locator('.keypad .key[data-key="1"]').click()  # while the welcome is read
        expect(transcript.locator("li.pressed")).to_have_text(["You pressed 1"], timeout=5000)
        # The key stopped the welcome: the next menu is read at once, never the Spanish half.
        expect(transcript).to_contain_text("calling for yourself", timeout=5000)
        expect(transcript).not_to_contain_text("waiting for your keys")
        expect(transcript).not_to_contain_text("Para español")
        expect(page.locator("#call-status")).to_have_text("On the call.")
        page.get_by_role("button", name="Hang up").click()
        expect(page.locator("#call-status")).to_have_text("The call has ended.", timeout=10000)
    finally:
        context.close()
