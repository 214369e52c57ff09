"""A Spanish-speaking counselor in a real browser: the sign-in page follows the browser's
language, the console is in Spanish, the scripts' words included (the live clock, the
connection state, the alert choices), and the header's control switches the pages to
English."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from hotline import users
from routing.counselors import create_counselor
from tests.browser.conftest import Site
from tests.browser.test_browser_console_alerts import IVR_EN, RECORD
from tests.conftest import WEB_PASSWORD, wait_until
from tests.served import Line
from twilio_standin import Script

pytestmark = pytest.mark.browser


def test_a_spanish_speaking_counselor_works_in_spanish(browser: Any, site: Site) -> None:
    counselor = create_counselor(site.r, "Lucía", "+12125550131", ["en", "es"])
    users.create_user(
        site.r, "lucia", WEB_PASSWORD, "counselor", counselor_id=counselor.id, language="es"
    )
    context = browser.new_context(locale="es-MX")  # Accept-Language: es-MX
    page = context.new_page()
    try:
        page.goto(site.base + "/login")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        page.get_by_label("Usuario").fill("lucia")
        page.get_by_label("Contraseña").fill(WEB_PASSWORD)
        page.get_by_role("button", name="Iniciar sesión").click()
        expect(page.get_by_role("heading", name=re.compile("^Consola"))).to_be_visible()

        # Written by the scripts, in the words of the catalogue.
        expect(page.locator("#live-time")).to_have_text(re.compile(r"^actualizado \d\d:\d\d:\d\d"))
        expect(page.locator("#live-status")).to_have_text("En vivo")
        expect(page.get_by_label("Reproducir un sonido")).to_be_visible()  # shown by console.js
        expect(page.get_by_label("Notificación de escritorio")).to_be_checked()

        # The state box, polled, and a state change with its message.
        expect(page.locator("#my-state")).to_have_text("Fuera de línea")
        page.get_by_role("button", name="Disponible").click()
        expect(page.get_by_text("Estás disponible para devoluciones de llamada.")).to_be_visible()
        expect(page.locator("#my-state")).to_have_text("Disponible")

        # Switched to English from the header: the account keeps it.
        page.locator("#ui-language").select_option("en")
        page.locator("#change-language").click()
        expect(page.get_by_role("heading", name=re.compile("^Console"))).to_be_visible()
        expect(page.locator("#live-time")).to_have_text(re.compile(r"^updated \d\d:\d\d:\d\d"))
        expect(page.locator("#my-state")).to_have_text("Available")
        expect(page.get_by_label("Play a sound")).to_be_visible()
        assert users.find_by_username(site.r, "lucia").language == "en"  # type: ignore[union-attr]
    finally:
        context.close()


def test_a_callback_ringing_is_announced_in_spanish(
    browser: Any, start_line: Callable[..., Line]
) -> None:
    line = start_line(WRAPUP_SECONDS="300", COUNSELOR_RING_SECONDS="600")
    site = Site(line.base, line.standin, line.r, line.workers)
    phone, caller = "+12125550141", "+14155550142"
    site.standin.phone(phone, Script.answers("1", ring_seconds=250, talk_seconds=300))
    counselor = create_counselor(site.r, "Lucía", phone, ["en", "es"])
    users.create_user(
        site.r, "lucia", WEB_PASSWORD, "counselor", counselor_id=counselor.id, language="es"
    )
    context = browser.new_context(permissions=["notifications"])
    context.grant_permissions(["notifications"], origin=site.base)
    context.add_init_script(RECORD)
    page = context.new_page()
    try:
        site.sign_in(page, "lucia")  # the sign-in page in English (the browser's), then hers
        expect(page).to_have_title("Consola · Hotline")
        call = site.calls_in(caller, IVR_EN, Script.answers(talk_seconds=300))
        site.lead_of(call)
        wait_until(lambda: site.r.zcard("hotline:waiting") == 1, 30)
        page.get_by_role("button", name="Disponible").click()
        expect(page.locator("#my-state")).to_have_text("Teléfono sonando", timeout=5000)
        expect(page.locator("#call-phase")).to_have_text(
            "Tu teléfono está sonando: contesta y marca 1 para aceptar."
        )
        lead_id = page.locator("#live-call").get_attribute("data-lead")
        wait_until(lambda: page.evaluate("window.__notifications.length") == 1, 5)
        [shown] = page.evaluate("window.__notifications")
        assert shown == {
            "title": f"Hotline: devolución de llamada {lead_id}",
            "body": "Tu teléfono está sonando: contesta y marca 1 para aceptar.",
        }
        titles = page.evaluate("window.__titles")
        assert "(1) Devolución de llamada sonando · Consola · Hotline" in titles, titles
        expect(page.locator("#my-state")).to_have_text("En llamada", timeout=15000)
    finally:
        context.close()
