"""A Spanish-speaking counselor in a real browser: the sign-in page follows the browser's
language, the console is in Spanish, the scripts' words included (the live clock, the
connection state, the alert choices), and the header's control switches the pages to
English."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from hotline import users
from routing.counselors import create_counselor
from tests.browser.conftest import Site
from tests.conftest import WEB_PASSWORD

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
