"""The supervisor's pages as laid out by a real browser: stat cards apart from the panel
below them, durations on one line, and the table rows' lines straight across."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from routing.leads import record_event
from settings import load_settings
from tests.browser.conftest import Site
from tests.conftest import Floor

pytestmark = pytest.mark.browser


def test_cards_rows_and_durations_are_laid_out_cleanly(
    browser: Any, site: Site, env: dict[str, str]
) -> None:
    floor = Floor(site.r, load_settings(env))
    lead = floor.caller_waiting(ago=300, insurance="ppo")
    floor.caller_waiting(ago=200)
    dana = floor.counselor("Dana", available=False)  # offline: nobody dials during the test
    connected = floor.caller_waiting(ago=106)
    site.r.zrem("hotline:waiting", connected.id)
    record_event(site.r, connected.id, "connected", reservation="R000001", counselor="C0001")
    site.account("sam", "supervisor")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        site.sign_in(page, "sam")
        expect(page.locator(f'tr[data-lead="{lead.id}"]')).to_be_visible()
        gap = page.evaluate(
            """() => {
                 const cards = document.querySelector('.numbers');
                 return cards.nextElementSibling.getBoundingClientRect().top
                   - cards.getBoundingClientRect().bottom;
               }"""
        )
        assert gap >= 8, gap  # the stat cards do not touch the panel below
        # Every cell of a row ends on the same line (the Actions cell included).
        for row in (f'tr[data-lead="{lead.id}"]', f'tr[data-counselor="{dana.id}"]'):
            bottoms = page.evaluate(
                f"""() => [...document.querySelectorAll('{row} td')]
                       .map(td => Math.round(td.getBoundingClientRect().bottom))"""
            )
            assert len(set(bottoms)) == 1, (row, bottoms)

        page.goto(site.base + "/dashboard/reports")
        median = page.locator("#r-median")
        expect(median).to_have_text("1 min 46 s")
        lines = median.evaluate(
            "b => b.getBoundingClientRect().height / parseFloat(getComputedStyle(b).lineHeight)"
        )
        assert lines < 1.5, lines  # on one line
    finally:
        context.close()
