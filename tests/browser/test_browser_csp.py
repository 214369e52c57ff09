"""Every page works under the Content-Security-Policy: Chromium reports no violation."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Site


def test_pages_run_under_the_content_security_policy(browser: Any, site: Site) -> None:
    site.account("ada", "admin")
    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        site.sign_in(page, "ada")
        for path in (
            "/dashboard/",
            "/dashboard/history",
            "/dashboard/reports",
            "/admin/",
            "/admin/audit",
            "/try-it",
        ):
            page.goto(site.base + path)
            page.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert violations == []
