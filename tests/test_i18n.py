"""The console and dashboard in English or Spanish: the catalogue holds every string of the
pages and of the views, translated; each signed-in person sees their own language, set by
themselves or by an admin; the sign-in page follows the browser."""

from __future__ import annotations

import json
import re
import time
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from hotline import audit, dashboard, i18n, users
from routing import counselors, dispositions, endings, keys, reports, supervision, twilio_errors
from routing.counselors import create_counselor, get_counselor, make_available
from settings import Settings
from tests.conftest import ROOT, WEB_PASSWORD, AuthActions, Floor

TRANSLATIONS = ROOT / "hotline" / "translations"
PO = TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
POT = TRANSLATIONS / "messages.pot"


def extracted() -> set[str]:
    """Every msgid of the templates and the Python code, as babel.cfg extracts them."""
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None},
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def read(path: Path) -> Catalog:
    with open(path, "rb") as f:
        return read_po(f)


def test_the_catalogue_has_every_string_of_the_pages_translated() -> None:
    wanted = extracted()
    assert len(wanted) > 300  # the extraction really read the templates and the views
    po = read(PO)
    translated = {m.id: m.string for m in po if m.id}
    assert sorted(wanted - set(translated)) == []  # no string left out of the .po
    assert sorted(set(translated) - wanted) == []  # and none stale
    assert {m.id for m in read(POT) if m.id} == wanted  # the template is current too
    assert sorted(k for k, v in translated.items() if not v or not str(v).strip()) == []
    assert [m.id for m in po if m.id and m.fuzzy] == []
    # Placeholders match (python-format), as msgfmt --check would say.
    assert [(m.id, str(e)) for m, e in po.check()] == []


def test_the_committed_mo_is_the_po_compiled(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.mo"
    with open(fresh, "wb") as f:
        write_mo(f, read(PO))

    def contents(path: Path) -> dict[str, str]:
        with open(path, "rb") as f:
            return {str(m.id): str(m.string) for m in read_mo(f) if m.id}

    assert contents(MO) == contents(fresh)
    assert len(contents(MO)) == len([m for m in read(PO) if m.id])


def test_the_package_ships_the_catalogue() -> None:
    with open(ROOT / "pyproject.toml", "rb") as f:
        config = tomllib.load(f)
    assert "translations/**/*" in config["tool"]["setuptools"]["package-data"]["*"]
    assert any(d.startswith("flask-babel") for d in config["project"]["dependencies"])


def test_every_word_the_domain_hands_the_pages_is_in_the_catalogue() -> None:
    words = set(i18n.DOMAIN_WORDS)
    assert set(dispositions.LABELS.values()) <= words
    assert set(supervision.BREAK_REASONS) <= words
    assert set(twilio_errors.WHAT_TO_DO.values()) <= words
    assert {audit.who_name("api-token"), audit.who_name("system")} <= words
    assert tuple(i18n.LANGUAGE_CHOICES) == users.UI_LANGUAGES


def refusal(call: Callable[[], object]) -> str:
    """The message of the error the domain raises for ``call``."""
    with pytest.raises(ValueError) as raised:
        call()
    return str(raised.value)


def domain_messages_with_values(r: Redis, settings: Settings) -> list[str]:
    """Each message of i18n.DOMAIN_PATTERNS, made by the domain itself."""
    phone = "+12125550177"
    busy = create_counselor(r, "Rosa", phone, ["es"])
    r.hset(keys.COUNSELOR.format(busy.id), "status", "on_call")
    free = create_counselor(r, "Beto", "+12125550178", ["en"])
    assert make_available(r, free)
    offline = supervision.force_offline(r, free.id, by="sam")
    tired = get_counselor(r, free.id)
    assert tired is not None
    tired.missed_offers = settings.max_missed_offers - 1
    missed = endings.MOVES[endings.Ending.MISSED]
    args, _ = endings._counselor_args(settings, missed, tired, "no-answer", time.time())
    reason = next(json.loads(a) for a in args if a.startswith("{"))["status_reason"]
    users.create_user(r, "taken", WEB_PASSWORD, "supervisor")
    today = date(2026, 6, 30)
    return [
        refusal(lambda: supervision.force_offline(r, busy.id, by="sam")),
        refusal(
            lambda: dispositions.record(
                r,
                settings,
                "L000001",
                busy.id,
                dispositions.Disposition.INFORMATION.value,
                note="x" * 600,
            )
        ),
        refusal(lambda: reports.parse_span("2026-01-01", "2026-06-30", today)),
        offline.status_reason,
        reason,
        str(counselors.PhoneInUse(busy)),
        refusal(lambda: create_counselor(r, "", "+12125550179", ["en"])),
        refusal(lambda: create_counselor(r, "Ana", "+12125550179", [])),
        refusal(lambda: users.validate("someone", "counselor", "short")),
        refusal(lambda: users.create_user(r, "taken", WEB_PASSWORD, "supervisor")),
        refusal(lambda: users.validate("someone", "boss", None)),
        refusal(lambda: users.validate("someone", "counselor", None, "de")),
    ]


def test_domain_messages_with_a_name_or_a_number_are_translated_too(
    app: Flask, r: Redis, settings: Settings
) -> None:
    made = domain_messages_with_values(r, settings)
    assert len(made) == len(i18n.DOMAIN_PATTERNS)
    for message in made:
        with app.test_request_context(headers={"Accept-Language": "en"}):
            assert i18n.translated(message) == message  # English: word for word
        with app.test_request_context(headers={"Accept-Language": "es"}):
            spanish = i18n.translated(message)
        assert spanish != message, message
    # Each pattern reads one of the messages the domain really makes.
    for pattern, catalogued in i18n.DOMAIN_PATTERNS:
        assert any(pattern.fullmatch(m) for m in made), catalogued
    with app.test_request_context(headers={"Accept-Language": "es"}):
        assert i18n.translated("put offline by sam") == "puesto fuera de línea por sam"
        assert i18n.translated("Meal") == "Comida"
        assert i18n.translated("no-answer") == "no-answer"  # not in the catalogue: as it is


def test_every_event_of_a_callbacks_history_has_a_name_in_the_catalogue() -> None:
    written = set()
    for folder in ("routing", "workers", "hotline"):
        for path in (ROOT / folder).rglob("*.py"):
            for call in re.findall(r"(?:history_entry|record_event)\(([^)]*)", path.read_text()):
                written.update(re.findall(r'^\s*(?:[a-z_.]+,\s*)*"([a-z_]+)"', call))
    assert {"call_received", "moved_to_front", "retry_scheduled"} <= written
    assert sorted(written - set(dashboard.EVENT_NAMES)) == []


# --- Who sees which language --------------------------------------------------------------


def counselor_account(auth: AuthActions, r: Redis, name: str, language: str) -> users.User:
    counselor = create_counselor(r, name.title(), f"+1212555{len(name):04d}", ["en", "es"])
    return users.create_user(
        r, name, WEB_PASSWORD, "counselor", counselor_id=counselor.id, language=language
    )


def text_of(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def js_words(page: str) -> dict[str, str]:
    match = re.search(r"<body data-i18n='([^']*)'>", page)
    assert match, "no catalogue for the scripts on the page"
    import html

    return dict(json.loads(html.unescape(match.group(1))))


def test_a_spanish_speaking_counselor_sees_the_console_in_spanish(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    counselor_account(auth, r, "lucia", "es")
    assert auth.login("lucia").status_code == 302
    page = text_of(client, "/console/")
    assert '<html lang="es">' in page
    for words in ("Consola", "Tu estado", "Disponible", "Fuera de línea", "En pausa", "Comida"):
        assert words in page, words
    assert "Cuando llegue una devolución de llamada:" in page
    assert "Reproducir un sonido" in page
    for english in ("Your state", "Play a sound", "Sign out", "No callback right now"):
        assert english not in page, english
    # The break reason is still sent as the domain's value, shown in Spanish.
    assert '<option value="Meal" >Comida</option>' in page
    # The scripts' words come from the same catalogue.
    assert js_words(page)["live"] == "En vivo"
    assert js_words(page)["updated"] == "actualizado %(time)s"
    # The polled fragments too, and the messages of the views.
    assert "Tu estado" in text_of(client, "/console/live/state")
    assert "No hay ninguna devolución de llamada" in text_of(client, "/console/live/call")
    token = auth.csrf_token("/console/")
    client.post("/console/state", data={"csrf_token": token, "state": "available"})
    page = text_of(client, "/console/")
    assert "Estás disponible para devoluciones de llamada." in page
    assert 'id="my-state">Disponible<' in page


def test_an_english_speaking_user_is_unaffected(
    app: Flask, auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    counselor_account(auth, r, "lucia", "es")
    counselor_account(auth, r, "dana", "en")
    spanish = app.test_client()
    AuthActions(spanish, r).login("lucia")
    assert "Tu estado" in text_of(spanish, "/console/")
    assert auth.login("dana").status_code == 302
    page = text_of(client, "/console/")
    assert '<html lang="en">' in page
    assert "Your state" in page and "Tu estado" not in page
    assert js_words(page)["live"] == "Live"


def test_a_user_switches_language_and_it_stays_switched(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    user = counselor_account(auth, r, "dana", "en")
    auth.login("dana")
    assert "Your state" in text_of(client, "/console/")
    token = auth.csrf_token("/console/")
    switched = client.post(
        "/language", data={"csrf_token": token, "language": "es", "next": "/console/"}
    )
    assert switched.status_code == 302
    assert switched.headers["Location"] == "/console/"
    page = text_of(client, "/console/")
    assert "Tu estado" in page
    assert "Las páginas ahora se muestran en el idioma que elegiste." in page
    assert users.get_user(r, user.id).language == "es"  # type: ignore[union-attr]
    # It is the account's: signing out and in again keeps it.
    auth.logout()
    auth.login("dana")
    assert "Tu estado" in text_of(client, "/console/")
    # And back to English.
    token = auth.csrf_token("/console/")
    client.post("/language", data={"csrf_token": token, "language": "en", "next": "/console/"})
    page = text_of(client, "/console/")
    assert "Your state" in page
    assert "The pages are now shown in the language you chose." in page


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"language": "fr"}, 302),  # refused with a message, language unchanged
        ({"language": "es", "next": "https://elsewhere.example/"}, 302),  # no open redirect
    ],
)
def test_a_language_change_is_checked(
    auth: AuthActions, client: FlaskClient, r: Redis, form: dict[str, str], status: int
) -> None:
    user = counselor_account(auth, r, "dana", "en")
    auth.login("dana")
    token = auth.csrf_token("/console/")
    response = client.post("/language", data={"csrf_token": token, **form})
    assert response.status_code == status
    assert response.headers["Location"] == "/"
    expected = form["language"] if form["language"] in users.UI_LANGUAGES else "en"
    assert users.get_user(r, user.id).language == expected  # type: ignore[union-attr]
    if expected == "en":
        assert "Choose English or Spanish." in text_of(client, "/console/")


def test_a_language_change_needs_the_csrf_token_and_a_session(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    assert client.post("/language", data={"language": "es"}).status_code in (302, 400)
    user = counselor_account(auth, r, "dana", "en")
    auth.login("dana")
    assert client.post("/language", data={"language": "es"}).status_code == 400
    assert users.get_user(r, user.id).language == "en"  # type: ignore[union-attr]


def test_an_admin_sets_an_accounts_language(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    user = counselor_account(auth, r, "lucia", "en")
    auth.as_role("admin")
    page = text_of(client, "/admin/")
    assert f'id="lang-{user.id}"' in page
    token = auth.csrf_token("/admin/")
    response = client.post(f"/admin/users/{user.id}", data={"csrf_token": token, "language": "es"})
    assert response.status_code == 302
    assert users.get_user(r, user.id).language == "es"  # type: ignore[union-attr]
    refused = client.post(f"/admin/users/{user.id}", data={"csrf_token": token, "language": "xx"})
    assert refused.status_code == 400
    assert "language: one of en, es" in refused.get_data(as_text=True)
    # A new account can be given its language from the start.
    counselor = create_counselor(r, "Marta", "+12125550199", ["es"])
    client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "marta",
            "password": WEB_PASSWORD,
            "role": "counselor",
            "counselor_id": counselor.id,
            "language": "es",
        },
    )
    assert users.find_by_username(r, "marta").language == "es"  # type: ignore[union-attr]
    # The admin's own pages stay in the admin's language.
    assert "Accounts" in text_of(client, "/admin/")


def test_a_supervisor_in_spanish_sees_the_dashboard_reports_and_history_in_spanish(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    user = auth.as_role("supervisor")
    users.update_user(r, user.id, language="es")
    dashboard = text_of(client, "/dashboard/")
    assert "Panel de supervisión" in dashboard
    assert "Nadie está esperando una devolución de llamada." in dashboard
    assert "Panel de supervisión" not in text_of(client, "/dashboard/live")  # fragment only
    assert "esperando una devolución de llamada" in text_of(client, "/dashboard/live")
    reports = text_of(client, "/dashboard/reports")
    assert "llamadas recibidas" in reports and "Descargar CSV" in reports
    history = text_of(client, "/dashboard/history")
    assert "Historial de devoluciones de llamada" in history
    assert "Referido a otro servicio" in history  # a disposition label from the domain
    bad = client.get("/dashboard/history?last4=12")
    assert "escribe exactamente cuatro dígitos" in bad.get_data(as_text=True)
    missing = client.get("/dashboard/leads/L999999")
    assert missing.status_code == 404
    assert "No existe esa devolución de llamada" in missing.get_data(as_text=True)


def test_a_spanish_supervisor_reads_a_callbacks_history_in_spanish(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    user = auth.as_role("supervisor")
    users.update_user(r, user.id, language="es")
    floor.caller_waiting(ago=120)
    second = floor.caller_waiting(ago=60)
    token = auth.csrf_token("/dashboard/")
    moved = client.post(
        f"/dashboard/callbacks/{second.id}/front",
        data={"csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"La devolución de llamada {second.id} ahora es la primera de la fila." in moved
    page = text_of(client, f"/dashboard/leads/{second.id}")
    assert "pasada al frente" in page  # the lead's history
    assert "— consulta</li>" in page  # the audit log's reading of this page
    assert "Prioridad" in page and "en espera" in page


@pytest.mark.parametrize(
    ("accept_language", "heading", "lang"),
    [
        ("es-MX,es;q=0.9,en;q=0.5", "Iniciar sesión", "es"),
        ("es", "Iniciar sesión", "es"),
        ("en-US,en;q=0.9,es;q=0.5", "Sign in", "en"),
        ("fr-FR,fr;q=0.9", "Sign in", "en"),  # no match: English
        ("", "Sign in", "en"),
    ],
)
def test_the_sign_in_page_follows_the_browser(
    client: FlaskClient, accept_language: str, heading: str, lang: str
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    page = client.get("/login", headers=headers).get_data(as_text=True)
    assert f'<h1 id="signin-h">{heading}</h1>' in page
    assert f'<html lang="{lang}">' in page


def test_sign_in_errors_follow_the_browser_too(auth: AuthActions, client: FlaskClient) -> None:
    auth.create("sue", "supervisor")
    token = auth.csrf_token("/login")
    response = client.post(
        "/login",
        data={"username": "sue", "password": "wrong password", "csrf_token": token},
        headers={"Accept-Language": "es-419,es"},
    )
    assert response.status_code == 401
    assert "Usuario o contraseña incorrectos." in response.get_data(as_text=True)


def test_accounts_made_before_languages_read_as_english(r: Redis) -> None:
    user = users.create_user(r, "old", WEB_PASSWORD, "supervisor")
    r.hdel(f"hotline:user:{user.id}", "language")
    assert users.get_user(r, user.id).language == "en"  # type: ignore[union-attr]
    with pytest.raises(users.UserError):
        users.set_language(r, user.id, "de")
    with pytest.raises(users.UserError):
        users.create_user(r, "new", WEB_PASSWORD, "supervisor", language="de")
