"""Sessions that end (12 hours, sign-out, a new password, switch-off, retirement), sign-in
limits nobody can turn into a lock-out, and the security headers of every response."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from hotline.app import create_app
from settings import load_settings
from tests.conftest import API_TOKEN, WEB_PASSWORD, AuthActions
from workers.services import build_services

TEMPLATES = Path(__file__).resolve().parent.parent / "hotline" / "templates"


def from_address(app: Flask, r: Redis, address: str) -> AuthActions:
    """A browser of its own at client address ``address``."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return AuthActions(browser, r)


def session_cookie(client: FlaskClient) -> str:
    """The value of the session cookie the client holds now."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def signed_in(client: FlaskClient) -> bool:
    """Whether the client's session still opens the live dashboard data."""
    return client.get("/dashboard/live.json").status_code == 200


# --- Sessions -----------------------------------------------------------------------------


def test_a_session_lasts_twelve_hours_not_a_month(auth: AuthActions, app: Flask) -> None:
    assert app.permanent_session_lifetime == timedelta(hours=12)
    auth.create("sue", "supervisor")
    response = auth.login("sue")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))  # type: ignore[union-attr]
    left = expires - datetime.now(UTC)
    assert timedelta(hours=11, minutes=59) < left <= timedelta(hours=12)


def test_a_copied_cookie_is_worthless_after_sign_out(
    auth: AuthActions, client: FlaskClient
) -> None:
    auth.as_role("supervisor")
    copied = session_cookie(client)
    assert auth.logout().status_code == 302
    client.set_cookie("session", copied)  # the cookie as it was before signing out
    assert client.get("/dashboard/live.json").status_code == 401
    assert client.get("/dashboard/").headers["Location"].startswith("/login")


def test_signing_out_ends_the_users_other_sessions(app: Flask, r: Redis) -> None:
    desk, phone = from_address(app, r, "10.0.0.1"), from_address(app, r, "10.0.0.2")
    desk.create("sue", "supervisor")
    assert desk.login("sue").status_code == 302
    assert phone.login("sue").status_code == 302
    desk.logout()
    assert not signed_in(phone.client)


def test_a_new_password_ends_every_session(app: Flask, r: Redis) -> None:
    admin, sue = from_address(app, r, "10.0.0.1"), from_address(app, r, "10.0.0.2")
    admin.as_role("admin")
    user = sue.create("sue", "supervisor")
    sue.login("sue")
    assert signed_in(sue.client)
    token = admin.csrf_token("/admin/")
    changed = admin.client.post(
        f"/admin/users/{user.id}", data={"password": "a brand new password", "csrf_token": token}
    )
    assert changed.status_code == 302
    assert not signed_in(sue.client)
    assert sue.login("sue", "a brand new password").status_code == 302


def test_switching_an_account_off_and_on_does_not_revive_its_sessions(app: Flask, r: Redis) -> None:
    admin, sue = from_address(app, r, "10.0.0.1"), from_address(app, r, "10.0.0.2")
    admin.as_role("admin")
    user = sue.create("sue", "supervisor")
    sue.login("sue")
    for active in ("0", "1"):
        token = admin.csrf_token("/admin/")
        admin.client.post(f"/admin/users/{user.id}", data={"active": active, "csrf_token": token})
    assert not signed_in(sue.client)
    assert sue.login("sue").status_code == 302  # the account itself works again


def test_retiring_a_counselor_ends_their_sessions(auth: AuthActions, client: FlaskClient) -> None:
    user = auth.as_role("counselor")
    assert client.get("/console/").status_code == 200
    retired = client.application.test_client().delete(
        f"/api/counselors/{user.counselor_id}", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert retired.status_code == 204
    assert client.get("/console/").headers["Location"].startswith("/login")


# --- Sign-in limits -------------------------------------------------------------------------


def test_a_stranger_guessing_cannot_lock_the_user_out(app: Flask, r: Redis) -> None:
    AuthActions(app.test_client(), r).create("sue", "supervisor")
    codes = []
    for n in range(25):  # from five addresses, under each address's own limit
        stranger = from_address(app, r, f"203.0.113.{n // 5 + 1}")
        codes.append(stranger.login("sue", f"guess number {n}").status_code)
    assert set(codes) <= {401, 429}
    sue = from_address(app, r, "198.51.100.7")
    assert sue.login("sue").status_code == 302


def test_one_address_guessing_is_stopped_and_the_user_still_signs_in(app: Flask, r: Redis) -> None:
    stranger = from_address(app, r, "203.0.113.9")
    stranger.create("sue", "supervisor")
    codes = [stranger.login("sue", f"guess number {n}").status_code for n in range(25)]
    assert codes[:5] == [401] * 5
    assert codes[-1] == 429  # this address is slowed down
    assert stranger.login("sue", WEB_PASSWORD).status_code == 429
    assert from_address(app, r, "198.51.100.7").login("sue").status_code == 302


# --- Headers --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/console/", "/healthz", "/static/hotline.css"])
def test_every_response_has_the_security_headers(client: FlaskClient, path: str) -> None:
    headers = client.get(path).headers
    csp = dict(
        (part.split(" ", 1) + [""])[:2] for part in headers["Content-Security-Policy"].split("; ")
    )
    assert csp["script-src"] == "'self'"  # no inline script, no eval, no other site
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    policy = headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation"):
        assert f"{feature}=()" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Strict-Transport-Security"].startswith("max-age=")  # https in the tests


def test_no_strict_transport_security_over_plain_http(env: dict[str, str], r: Redis) -> None:
    settings = load_settings({**env, "PUBLIC_BASE_URL": "http://127.0.0.1:5000"})
    app = create_app(settings, build_services(settings), test_config={"TESTING": True})
    headers = app.test_client().get("/login").headers
    assert "Strict-Transport-Security" not in headers
    assert "Content-Security-Policy" in headers


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_have_no_inline_script_or_style(template: str) -> None:
    html = (TEMPLATES / template).read_text()
    # A <script> must name a static file; handlers and style attributes are inline code.
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"(?<![\w-])style\s*=", html), "style attribute"
    assert "<style" not in html
    assert "javascript:" not in html


# --- The threat model -------------------------------------------------------------------


def test_the_threat_model_is_written_and_linked_from_the_readme() -> None:
    root = TEMPLATES.parent.parent
    model = (root / "docs" / "SECURITY.md").read_text()
    for section in ("Who may see what", "What is logged", "What is kept", "Reporting a problem"):
        assert f"## {section}" in model, section
    assert "(docs/SECURITY.md)" in (root / "README.md").read_text()
