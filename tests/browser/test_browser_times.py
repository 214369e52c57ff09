"""Every time on the supervisor's and the counselor's pages is in the call center's zone
(REPORT_TIME_ZONE), the live clock included, whatever zone the browser is in."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Site
from tests.conftest import ZONE

pytestmark = pytest.mark.browser


def test_the_live_clock_uses_the_call_centers_zone_and_names_it(browser: Any, site: Site) -> None:
    site.account("sam", "supervisor")
    context = browser.new_context(timezone_id="Asia/Tokyo")  # far from the call center
    page = context.new_page()
    try:
        site.sign_in(page, "sam")
        clock = page.locator("#live-time")
        expect(clock).to_have_text(re.compile(r"^updated \d\d:\d\d:\d\d P[SD]T$"))
        shown = str(clock.text_content())[len("updated ") :][:5]
        now = datetime.now(ZONE)
        assert shown in {(now - timedelta(minutes=m)).strftime("%H:%M") for m in (0, 1)}
        assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Asia/Tokyo"
    finally:
        context.close()
