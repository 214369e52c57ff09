"""The "try it" page: a keypad in the browser that calls the hotline through the local Twilio
stand-in, shows what is said, sends the keys pressed, and shows the callback arriving.

Only useful (and only enabled) when TWILIO_API_BASE_URL points at the stand-in; the page
talks to the stand-in's control API server-side, so the browser never needs to reach it.
"""

from __future__ import annotations

import re
from typing import Any

import requests
from flask import Blueprint, Response, jsonify, render_template, request

from hotline.auth import supervisor_required
from hotline.services import get_settings
from routing.phones import InvalidNumber, mask, parse_number

bp = Blueprint("tryit", __name__, url_prefix="/try-it")

#: A stand-in call SID, the only thing the browser sends back to us.
_SID = re.compile(r"^CA[0-9a-f]{32}$")
#: The number the browser "calls from" unless another is typed in (fictional 555-01xx).
DEMO_NUMBER = "+14155550100"
#: Seconds we wait for the stand-in.
TIMEOUT = 5


class StandInUnavailable(Exception):
    """The stand-in is not configured or does not answer."""


def standin_url() -> str | None:
    """The stand-in's base URL, or None when Hotline talks to the real Twilio."""
    base = get_settings().twilio_api_base_url
    return None if "api.twilio.com" in base else base


def _control(method: str, path: str, json: Any = None) -> requests.Response:
    base = standin_url()
    if base is None:
        raise StandInUnavailable(
            "this Hotline uses the real Twilio; the try-it page needs "
            "the local stand-in (run `hotline dev` without Twilio keys)"
        )
    try:
        return requests.request(method, f"{base}/_standin{path}", json=json, timeout=TIMEOUT)
    except requests.RequestException:
        raise StandInUnavailable(f"the Twilio stand-in at {base} does not answer") from None


def _problem(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error="Unavailable" if status == 503 else "Bad Request", message=message), status


def _waiting(leg: dict[str, Any]) -> bool:
    """Whether the call waits for keys: a Gather listens and no key pressed on the keypad is
    still on its way to it (a key pressed during a prompt stops it and is taken at once)."""
    events = leg.get("transcript", [])
    pressed = sum(len(e.get("digits", "")) for e in events if e.get("event") == "pressed")
    taken = sum(len(e.get("digits", "")) for e in events if e.get("event") == "digits")
    return bool(events) and events[-1].get("event") == "gather" and pressed <= taken


def _transcript(leg: dict[str, Any], keypad: bool = False) -> list[dict[str, Any]]:
    """The parts of a leg a person hears or does, without any URL. On the keypad's own call,
    the keys as they are pressed, and the Gather only while it waits for one."""
    lines = []
    for event in leg.get("transcript", []):
        kind = event.get("event")
        if keypad and kind == "digits":
            continue  # shown as pressed
        if keypad and kind == "pressed":
            kind = "digits"
        if kind == "say":
            lines.append(
                {
                    "kind": "say",
                    "text": event.get("text", ""),
                    "language": event.get("language", ""),
                }
            )
        elif kind == "gather":
            if not keypad:
                lines.append({"kind": "gather"})
        elif kind == "digits":
            lines.append({"kind": "digits", "text": event.get("digits", "")})
        elif kind in ("bridged", "hangup", "person-hung-up", "ended", "error"):
            lines.append({"kind": kind, "text": event.get("status", event.get("detail", ""))})
    return lines


def _leg(sid: str) -> dict[str, Any] | None:
    response = _control("GET", f"/calls/{sid}")
    return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]


@bp.get("")
@supervisor_required
def index() -> str:
    """The keypad page."""
    return render_template("tryit.html", enabled=standin_url() is not None, demo_number=DEMO_NUMBER)


@bp.post("/calls")
@supervisor_required
def start_call() -> Any:
    """Dial the hotline from a number (the callback will ring it, and answer)."""
    body = request.get_json(silent=True) or {}
    try:
        number = parse_number(str(body.get("from") or DEMO_NUMBER))
    except InvalidNumber:
        return _problem(400, "from: not a valid phone number")
    try:
        # The inbound call is driven by this page's keypad; a callback to the same number
        # is answered by a scripted person who stays on for a while.
        scripts = [
            {"interactive": True},
            {"answer": "human", "ring_seconds": 3, "talk_seconds": 300},
        ]
        _control("POST", "/phones", {"number": number, "scripts": scripts}).raise_for_status()
        created = _control("POST", "/calls", {"from": number})
    except (StandInUnavailable, requests.HTTPError) as exc:
        return _problem(503, str(exc))
    if created.status_code != 201:
        return _problem(503, created.json().get("error", "the stand-in refused the call"))
    return jsonify(sid=created.json()["sid"], caller=mask(number)), 201


@bp.get("/calls/<sid>")
@supervisor_required
def show_call(sid: str) -> Any:
    """The call so far, and any callback to the same number."""
    if not _SID.match(sid):
        return _problem(400, "not a call id")
    try:
        leg = _leg(sid)
        if leg is None:
            return _problem(400, "no such call")
        everything = _control("GET", "/calls").json()["calls"]
    except StandInUnavailable as exc:
        return _problem(503, str(exc))
    callbacks = []
    for other in everything:
        if other["to"] == leg["from"] and other["direction"] != "inbound":
            detail = _leg(other["sid"]) or other
            callbacks.append({"status": detail["status"], "transcript": _transcript(detail)})
    waiting = _waiting(leg)
    transcript = _transcript(leg, keypad=True) + ([{"kind": "gather"}] if waiting else [])
    return jsonify(
        status=leg["status"],
        transcript=transcript,
        waiting_for_keys=waiting,
        callbacks=callbacks,
    )


@bp.post("/calls/<sid>/digits")
@supervisor_required
def press(sid: str) -> Any:
    """Keys pressed on the page's keypad."""
    digits = str((request.get_json(silent=True) or {}).get("digits", ""))
    if not _SID.match(sid) or not re.fullmatch(r"[0-9*#]{1,32}", digits):
        return _problem(400, "digits: 1 to 32 of 0-9, * and #")
    try:
        response = _control("POST", f"/calls/{sid}/digits", {"digits": digits})
    except StandInUnavailable as exc:
        return _problem(503, str(exc))
    if response.status_code != 204:
        return _problem(400, "that call is over")
    return "", 204


@bp.post("/calls/<sid>/hangup")
@supervisor_required
def hang_up(sid: str) -> Any:
    """The red button."""
    if not _SID.match(sid):
        return _problem(400, "not a call id")
    try:
        _control("POST", f"/calls/{sid}/hangup")
    except StandInUnavailable as exc:
        return _problem(503, str(exc))
    return "", 204
