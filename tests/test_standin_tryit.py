"""The try-it page: a signed-in supervisor calls the hotline through the stand-in from the
browser's keypad, reads what is said, presses keys, and becomes a lead."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from flask.testing import FlaskClient

from routing import keys
from tests.conftest import PUBLIC_BASE_URL, wait_until


class Keys(HTMLParser):
    """The keypad buttons of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "button" and found.get("data-key"):
            self.keys.append(str(found["data-key"]))


class Browser:
    """The page's JavaScript, as plain requests with the session and CSRF header."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"X-CSRFToken": token}

    def dial(self, number: str = "+14155550100") -> Any:
        return self.client.post("/try-it/calls", json={"from": number}, headers=self.headers)

    def call(self, sid: str) -> dict[str, Any]:
        response = self.client.get(f"/try-it/calls/{sid}")
        assert response.status_code == 200, response.data
        return response.get_json()  # type: ignore[no-any-return]

    def press(self, sid: str, digits: str) -> Any:
        return self.client.post(
            f"/try-it/calls/{sid}/digits", json={"digits": digits}, headers=self.headers
        )

    def waiting(self, sid: str) -> dict[str, Any]:
        """The call once a menu waits for a key (never while a key pressed is on its way)."""

        def ready() -> dict[str, Any] | None:
            call = self.call(sid)
            return call if call["waiting_for_keys"] else None

        return wait_until(ready, 15)  # type: ignore[no-any-return]


@pytest.fixture
def browser(standin: Any, app: Any, client: FlaskClient, auth: Any) -> Browser:
    """A supervisor's browser on the try-it page, the stand-in running calls on the app."""
    standin.attach(app, PUBLIC_BASE_URL)
    auth.as_role("supervisor")
    return Browser(client, auth.csrf_token("/try-it"))


def test_page_has_a_keypad(browser: Browser):
    page = browser.client.get("/try-it")
    assert page.status_code == 200
    parser = Keys()
    parser.feed(page.get_data(as_text=True))
    assert parser.keys == list("123456789*0#")


def test_a_call_from_the_keypad_reads_the_ivr_and_makes_a_lead(browser: Browser, r: Any):
    started = browser.dial()
    assert started.status_code == 201, started.data
    sid, masked = started.get_json()["sid"], started.get_json()["caller"]
    assert masked == "***00", "the page never shows the whole number"
    first = browser.waiting(sid)
    said = " ".join(line["text"] for line in first["transcript"] if line["kind"] == "say")
    assert "911" in said.replace(" ", "") and "988" in said.replace(" ", "")
    assert first["transcript"][-1] == {"kind": "gather"}
    for key in ("1", "1", "2", "1", "1"):
        browser.waiting(sid)
        assert browser.press(sid, key).status_code == 204
        pressed = browser.call(sid)
        assert not pressed["waiting_for_keys"], "a key pressed is not waited for"
        assert {"kind": "gather"} not in pressed["transcript"]
    ended = wait_until(
        lambda: (lambda c: c if c["status"] == "completed" else None)(browser.call(sid)), 15
    )
    assert [line["text"] for line in ended["transcript"] if line["kind"] == "digits"] == [
        "1",
        "1",
        "2",
        "1",
        "1",
    ]
    assert r.get(keys.CALL_LEAD.format(sid)), "the call became a lead"


def test_a_key_pressed_during_a_prompt_stops_it(browser: Browser, standin: Any):
    standin.clock.set_factor(1.0)  # prompts at the speed of speech: the welcome takes ~20 s
    sid = browser.dial().get_json()["sid"]
    wait_until(lambda: any(line["kind"] == "say" for line in browser.call(sid)["transcript"]))
    assert browser.press(sid, "1").status_code == 204  # during the English welcome
    call = browser.call(sid)
    assert not call["waiting_for_keys"] and call["transcript"][-1] == {
        "kind": "digits",
        "text": "1",
    }
    # The next menu follows at once: the Spanish half of the welcome is never read.
    situation = wait_until(
        lambda: (lambda c: c if "for yourself" in str(c["transcript"]) else None)(
            browser.call(sid)
        ),
        5,
    )
    assert "Para español" not in str(situation["transcript"])
    assert [line["text"] for line in situation["transcript"] if line["kind"] == "digits"] == ["1"]
    assert {"kind": "gather"} not in situation["transcript"][:-1]
    browser.client.post(f"/try-it/calls/{sid}/hangup", headers=browser.headers)


@pytest.mark.parametrize("digits", ["", "12a", "1" * 33])
def test_bad_keys_are_refused(browser: Browser, digits: str):
    sid = browser.dial().get_json()["sid"]
    response = browser.press(sid, digits)
    assert response.status_code == 400 and "digits" in response.get_json()["message"]


def test_unknown_call_ids_are_refused(browser: Browser):
    assert browser.client.get("/try-it/calls/not-a-sid").status_code == 400
    assert browser.press("CA" + "0" * 32, "1").status_code == 400


def test_an_invalid_number_is_refused(browser: Browser):
    response = browser.dial("+1555")
    assert response.status_code == 400 and "from" in response.get_json()["message"]


def test_without_a_standin_the_page_says_so(client: FlaskClient, auth: Any):
    auth.as_role("supervisor")  # TWILIO_API_BASE_URL points nowhere in the test env
    token = auth.csrf_token("/try-it")
    response = client.post("/try-it/calls", json={}, headers={"X-CSRFToken": token})
    assert response.status_code == 503
    assert "does not answer" in response.get_json()["message"]


def test_the_page_needs_a_supervisor(client: FlaskClient, auth: Any):
    assert client.get("/try-it").status_code == 302
    auth.as_role("counselor", counselor_id="")
    assert client.get("/try-it").status_code == 403
