"""Accounts and sign-in: hashed passwords, roles, CSRF, the login rate limit, and that
every page and the API need a login or the token."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from hotline import audit, users
from hotline.users import UserError
from routing import keys
from tests.conftest import WEB_PASSWORD, AuthActions


def test_password_is_stored_hashed_and_checked(r: Redis) -> None:
    user = users.create_user(r, "Alice", "a long password", "supervisor")
    stored = r.hgetall(keys.USER.format(user.id))
    assert "a long password" not in stored.values()
    assert stored["password_hash"].startswith(("scrypt:", "pbkdf2:"))
    assert users.authenticate(r, "alice", "a long password") is not None  # case-insensitive
    assert users.authenticate(r, "alice", "a wrong password") is None
    assert users.authenticate(r, "nobody", "a long password") is None


@pytest.mark.parametrize(
    ("username", "password", "role", "counselor_id", "message"),
    [
        ("a", "a long password", "admin", "", "username"),
        ("bob smith", "a long password", "admin", "", "username"),
        ("bob", "short", "admin", "", "password"),
        ("bob", "a long password", "root", "", "role"),
        ("bob", "a long password", "counselor", "", "counselor_id"),
    ],
)
def test_invalid_users_are_refused_with_a_reason(
    r: Redis, username: str, password: str, role: str, counselor_id: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        users.create_user(r, username, password, role, counselor_id=counselor_id)
    assert r.hlen(keys.USERS_BY_NAME) == 0


def test_a_username_is_taken_once(r: Redis) -> None:
    users.create_user(r, "carol", "a long password", "admin")
    with pytest.raises(UserError, match="taken"):
        users.create_user(r, "CAROL", "another password", "supervisor")


def test_sign_in_lands_each_role_on_its_home(auth: AuthActions) -> None:
    auth.create("sue", "supervisor")
    response = auth.login("sue")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/"


def test_wrong_password_is_refused_with_a_message(auth: AuthActions, client: FlaskClient) -> None:
    auth.create("sue", "supervisor")
    response = auth.login("sue", "not the password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302  # still signed out


def test_login_without_csrf_token_is_refused(auth: AuthActions, client: FlaskClient) -> None:
    auth.create("sue", "supervisor")
    response = client.post("/login", data={"username": "sue", "password": WEB_PASSWORD})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302


def test_login_attempts_are_rate_limited(auth: AuthActions, app: Flask) -> None:
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    auth.create("sue", "supervisor")
    codes = [auth.login("sue", "wrong password!").status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    blocked = auth.login("sue")  # even the right password waits out the limit
    assert blocked.status_code == 429
    assert "Too many sign-in attempts" in blocked.get_data(as_text=True)


def test_rate_limit_is_counted_in_redis(auth: AuthActions, r: Redis) -> None:
    auth.create("sue", "supervisor")
    auth.login("sue", "wrong password!")
    assert [k for k in r.keys("*") if "hotline:ratelimit" in k], (
        "login attempts must be counted in the shared Redis"
    )


def test_next_is_followed_only_to_a_local_path(auth: AuthActions, client: FlaskClient) -> None:
    auth.create("sue", "supervisor")
    token = auth.csrf_token()
    form = {"username": "sue", "password": WEB_PASSWORD, "csrf_token": token}
    response = client.post("/login?next=https://evil.example/", data=form)
    assert response.headers["Location"] == "/dashboard/"


@pytest.mark.parametrize(
    "path", ["/console/", "/dashboard/", "/dashboard/reports", "/admin/", "/dashboard/live.json"]
)
def test_pages_need_a_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    if path.endswith(".json"):
        assert response.status_code == 401
        assert response.is_json
    else:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("role", "path", "allowed"),
    [
        ("counselor", "/console/", True),
        ("counselor", "/dashboard/", False),
        ("counselor", "/dashboard/reports", False),
        ("counselor", "/admin/", False),
        ("supervisor", "/dashboard/", True),
        ("supervisor", "/dashboard/reports", True),
        ("supervisor", "/admin/", False),
        ("admin", "/dashboard/", True),
        ("admin", "/admin/", True),
    ],
)
def test_roles_see_only_their_pages(
    auth: AuthActions, client: FlaskClient, role: str, path: str, allowed: bool
) -> None:
    auth.as_role(role)
    response = client.get(path)
    assert response.status_code == (200 if allowed else 403)


def test_sign_out_needs_csrf_and_ends_the_session(auth: AuthActions, client: FlaskClient) -> None:
    auth.as_role("supervisor")
    assert client.post("/logout").status_code == 400  # no token: a foreign page cannot do it
    assert client.get("/dashboard/").status_code == 200
    assert auth.logout().status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_a_switched_off_account_is_signed_out(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    user = auth.as_role("supervisor")
    users.update_user(r, user.id, active=False)
    assert client.get("/dashboard/").status_code == 302


def test_session_cookie_is_secure_and_http_only(auth: AuthActions, client: FlaskClient) -> None:
    auth.create("sue", "supervisor")
    response = auth.login("sue")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "Secure" in cookie  # PUBLIC_BASE_URL is https in the tests
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # ends after PERMANENT_SESSION_LIFETIME


def test_pages_are_not_cached(auth: AuthActions, client: FlaskClient) -> None:
    auth.as_role("supervisor")
    assert client.get("/dashboard/").headers["Cache-Control"] == "no-store"


def test_audit_log_records_who_read_which_lead(app: Flask, r: Redis) -> None:
    with app.test_request_context("/api/leads/L000001"):
        audit.lead_read(r, "L000001")
    with app.test_request_context("/x"):
        audit.record(r, "read", "L000002", who="user:U0001:sue")
    entries = audit.entries(r)
    assert [e["lead"] for e in entries] == ["L000002", "L000001"]
    assert entries[1]["who"] == "anonymous" and entries[1]["via"] == "/api/leads/L000001"
    assert [e["who"] for e in audit.entries(r, lead_id="L000002")] == ["user:U0001:sue"]


def _rules(app: Flask, method: str) -> list[str]:
    """Concrete paths of the console, dashboard and admin routes accepting ``method``."""
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("console", "dashboard", "admin", "api"):
            continue
        if method not in (rule.methods or ()):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "X1")
        paths.append(path)
    assert paths
    return paths


def test_every_page_and_api_route_needs_a_login(app: Flask, client: FlaskClient) -> None:
    for path in _rules(app, "GET"):
        response = client.get(path)
        assert response.status_code in (302, 401), path
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login"), path
    for path in _rules(app, "POST"):
        # Refused by the sign-in check, or before it by the CSRF check: never carried out.
        assert client.post(path).status_code in (302, 400, 401), path


def test_every_form_needs_the_csrf_token(
    app: Flask, auth: AuthActions, client: FlaskClient
) -> None:
    auth.as_role("admin")
    for path in _rules(app, "POST"):
        if path.startswith("/api/"):
            continue  # bearer-token calls; a session's API calls are checked in test_dashboard
        response = client.post(path, data={"state": "available"})
        assert response.status_code == 400, path
        assert "expired" in response.get_data(as_text=True), path


def test_login_attempts_per_username_from_one_address_are_limited(
    auth: AuthActions, app: Flask
) -> None:
    app.config["LOGIN_USER_ADDRESS_RATE_LIMIT"] = "2 per hour"
    auth.create("sue", "supervisor")
    assert [auth.login("sue", "wrong password!").status_code for _ in range(2)] == [401, 401]
    assert auth.login("sue").status_code == 429
    auth.create("tom", "supervisor")
    assert auth.login("tom").status_code == 302  # another account is not blocked
