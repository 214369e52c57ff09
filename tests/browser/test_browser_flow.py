"""The whole floor in a real browser: each role signs in, a counselor goes available, a
caller dials the hotline through the Twilio stand-in and is called back, the counselor
sees the call and dispositions it, and the supervisor's dashboard follows it all live."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from routing import keys
from tests.browser.conftest import Site
from tests.conftest import wait_until
from twilio_standin import Script

pytestmark = pytest.mark.browser

COUNSELOR_PHONE = "+12125550101"
CALLER = "+14155550111"
#: IVR answers: English, for myself, not urgent, PPO, call back on this caller ID.
IVR_EN = ("1", "1", "2", "1", "1")
#: Live updates must show within this many milliseconds (the issue asks for 1-2 s; the
#: extra covers the call itself moving on through the stand-in and the workers).
LIVE_MS = 5000


def counselor_row(page: Page, counselor_id: str) -> Any:
    return page.locator(f'tr[data-counselor="{counselor_id}"]')


def test_roles_call_and_live_dashboard(browser: Any, site: Site, screenshots: Path) -> None:
    created = site.api(
        "POST",
        "/api/counselors",
        {
            "name": "Dana Reyes",
            "phone": COUNSELOR_PHONE,
            "languages": ["en", "es"],
            "insurance": [],
        },
    )
    assert created.status_code == 201, created.text
    counselor_id = created.json()["id"]
    # Dana accepts (presses 1) and talks for 5 minutes of call time (6 s real at 50x).
    site.standin.phone(COUNSELOR_PHONE, Script.answers("1", talk_seconds=300))
    site.account("dana", "counselor", counselor_id)
    site.account("sam", "supervisor")
    site.account("ada", "admin")

    desk = browser.new_context(viewport={"width": 1280, "height": 900})
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    supervisor, counselor = desk.new_page(), phone.new_page()
    try:
        # Sign-in page, and a wrong password answered plainly.
        supervisor.goto(site.base + "/dashboard/")
        expect(supervisor).to_have_url(re.compile(r"/login\?next="))
        supervisor.get_by_label("Username").fill("sam")
        supervisor.get_by_label("Password").fill("not the password")
        supervisor.get_by_role("button", name="Sign in").click()
        expect(supervisor.get_by_role("alert")).to_contain_text("Wrong username or password")
        supervisor.screenshot(path=screenshots / "login.png")

        site.sign_in(supervisor, "sam")
        expect(supervisor).to_have_url(re.compile(r"/dashboard/$"))
        expect(supervisor.get_by_text("Nobody is waiting for a callback.")).to_be_visible()
        expect(counselor_row(supervisor, counselor_id)).to_have_attribute("data-state", "offline")

        # The counselor signs in on a phone; the supervisor page is not theirs.
        site.sign_in(counselor, "dana")
        expect(counselor).to_have_url(re.compile(r"/console/$"))
        expect(counselor.locator("#my-state")).to_have_text("Offline")
        forbidden = counselor.goto(site.base + "/dashboard/")
        assert forbidden is not None and forbidden.status == 403
        counselor.goto(site.base + "/console/")

        # A caller dials in while nobody is available: the queue shows them, live.
        site.standin.phone(CALLER, [Script.caller(*IVR_EN), Script.answers(talk_seconds=300)])
        call = site.standin.dial_in(CALLER)
        lead_id = str(wait_until(lambda: site.r.get(keys.CALL_LEAD.format(call.sid)), 20))
        row = supervisor.locator(f'tr[data-lead="{lead_id}"]')
        expect(row).to_be_visible(timeout=LIVE_MS + 10000)  # the IVR itself takes a while
        expect(row).to_contain_text("High")  # calling for themselves
        expect(row).to_contain_text("PPO")
        assert CALLER not in supervisor.content()  # masked everywhere on the dashboard
        supervisor.screenshot(path=screenshots / "dashboard-waiting.png", full_page=True)

        # One click: available. The callback rings Dana at once; the console shows it.
        counselor.get_by_role("button", name="Available").click()
        expect(counselor.get_by_role("status").filter(has_text="You are available")).to_be_visible()
        number = counselor.locator("#caller-number")
        expect(number).to_have_text(CALLER, timeout=LIVE_MS)  # bridged: the full number
        expect(counselor.locator("#live-call")).to_contain_text("Calling for themselves")
        expect(counselor.locator("#my-state")).to_have_text("On a call")
        counselor.screenshot(path=screenshots / "console-on-call.png", full_page=True)

        # The supervisor saw the queue empty and Dana go on the call, without a reload.
        expect(row).to_have_count(0, timeout=LIVE_MS)
        expect(counselor_row(supervisor, counselor_id)).to_have_attribute(
            "data-state", "on_call", timeout=LIVE_MS
        )

        # The call ends: wrap-up, and the disposition form.
        form = counselor.locator("#disposition-form")
        expect(form).to_be_visible(timeout=15000)
        expect(counselor.locator("#my-state")).to_have_text("Wrap-up")
        expect(counselor_row(supervisor, counselor_id)).to_have_attribute(
            "data-state", "wrap_up", timeout=LIVE_MS
        )
        form.get_by_label("Referred elsewhere").check()
        form.get_by_label("Short note").fill("Referred to the county outpatient program")
        counselor.screenshot(path=screenshots / "console-disposition.png", full_page=True)
        form.get_by_role("button", name="Save and end wrap-up").click()
        expect(counselor.get_by_text("Disposition saved. Wrap-up is over.")).to_be_visible()
        expect(counselor.locator("#my-state")).to_have_text("Available")
        expect(counselor.locator("#no-call")).to_be_visible()
        counselor.screenshot(path=screenshots / "console.png", full_page=True)

        # Submitting ended wrap-up; the dashboard follows.
        expect(counselor_row(supervisor, counselor_id)).to_have_attribute(
            "data-state", "available", timeout=LIVE_MS
        )
        assert site.r.hget(keys.LEAD_DISPOSITION.format(lead_id), "value") == "referred"
        supervisor.screenshot(path=screenshots / "dashboard.png", full_page=True)

        # Reports: today's numbers and charts.
        supervisor.get_by_role("link", name="Reports").click()
        expect(supervisor.locator("#r-connected")).to_have_text("1")
        expect(supervisor.locator("#r-leads")).to_have_text("1")
        expect(supervisor.locator("#chart-hours")).to_be_visible()
        expect(supervisor.locator("#dispositions")).to_contain_text("Referred elsewhere")
        supervisor.screenshot(path=screenshots / "reports.png", full_page=True)

        # History: the callback, found by the last four digits, opens its (audited) page.
        supervisor.get_by_role("link", name="History").click()
        supervisor.get_by_label("Last four digits").fill(CALLER[-4:])
        supervisor.get_by_role("button", name="Search").click()
        past = supervisor.locator(f'#history tr[data-lead="{lead_id}"]')
        expect(past).to_contain_text("Referred elsewhere")
        expect(past).to_contain_text("Dana Reyes")
        assert CALLER not in supervisor.content()
        supervisor.screenshot(path=screenshots / "history.png", full_page=True)
        past.get_by_role("link", name=lead_id).click()
        expect(supervisor).to_have_url(re.compile(f"/dashboard/leads/{lead_id}$"))

        # The phone-sized dashboard works too (tables stack into cards).
        pocket = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        small = pocket.new_page()
        site.sign_in(small, "sam")
        expect(counselor_row(small, counselor_id)).to_be_visible()
        small.screenshot(path=screenshots / "dashboard-phone.png", full_page=True)
        pocket.close()

        # Admin: accounts and counselors; adding one with a bad number says why.
        office = browser.new_context(viewport={"width": 1280, "height": 900})
        admin = office.new_page()
        site.sign_in(admin, "ada")
        admin.goto(site.base + "/admin/")
        expect(admin.locator("#users")).to_contain_text("dana")
        add = admin.locator("#add-counselor")
        add.get_by_label("Name").fill("Luz Ortega")
        add.get_by_label("Phone number").fill("12")
        add.get_by_label("Spanish").check()
        add.get_by_role("button", name="Add counselor").click()
        expect(admin.get_by_role("alert")).to_contain_text("not a valid phone number")
        add = admin.locator("#add-counselor")
        add.get_by_label("Phone number").fill("(212) 555-0102")
        add.get_by_role("button", name="Add counselor").click()
        expect(admin.locator("#counselor-list")).to_contain_text("Luz Ortega")
        admin.screenshot(path=screenshots / "admin.png", full_page=True)
        office.close()
    finally:
        desk.close()
        phone.close()


def test_keyboard_only_sign_in_and_availability(browser: Any, site: Site) -> None:
    created = site.api(
        "POST",
        "/api/counselors",
        {
            "name": "Kim",
            "phone": "+12125550103",
            "languages": ["en"],
            "insurance": [],
        },
    )
    counselor_id = created.json()["id"]
    site.account("kim", "counselor", counselor_id)
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(site.base + "/login")
        expect(page.locator("#username")).to_be_focused()  # autofocus
        page.keyboard.press("Shift+Tab")  # before it, only the skip link
        expect(page.locator(".skip")).to_be_focused()
        page.keyboard.press("Tab")
        page.keyboard.type("kim")
        page.keyboard.press("Tab")
        page.keyboard.type("correct horse battery")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/console/$"))
        page.locator("#go-available").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#my-state")).to_have_text("Available")
        # Every form control has a label a screen reader can read.
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                 .map(el => el.name)"""
        )
        assert unlabelled == []
        assert page.locator("main#main").count() == 1 and page.locator("nav").count() == 1
    finally:
        context.close()


def test_dashboard_follows_changes_within_two_seconds(browser: Any, site: Site) -> None:
    """The issue's bar for "live": a change shows within 1-2 s without a reload."""
    created = site.api(
        "POST",
        "/api/counselors",
        {"name": "Lee", "phone": "+12125550104", "languages": ["en"], "insurance": []},
    )
    counselor_id = created.json()["id"]
    site.account("sam", "supervisor")
    context = browser.new_context()
    page = context.new_page()
    try:
        site.sign_in(page, "sam")
        row = counselor_row(page, counselor_id)
        expect(row).to_have_attribute("data-state", "offline")
        page.evaluate("window.__notReloaded = true")
        delays = []
        for state in ("available", "offline", "available", "offline", "available"):
            changed = site.api("POST", f"/api/counselors/{counselor_id}/status", {"status": state})
            assert changed.status_code == 200, changed.text
            started = time.monotonic()
            expect(row).to_have_attribute("data-state", state, timeout=2000)
            delays.append(time.monotonic() - started)
        assert page.evaluate("window.__notReloaded") is True  # updated in place
        print(f"dashboard update delays (s): {', '.join(f'{d:.2f}' for d in delays)}")
    finally:
        context.close()
