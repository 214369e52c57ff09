"""The stand-in's own control API (not Twilio's): scripted phones, dialing in, the keypad.

Used by ``hotline simulate`` and the try-it page when the stand-in runs as a process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, jsonify, request

from twilio_standin.faults import Faults
from twilio_standin.phones import Script

if TYPE_CHECKING:
    from twilio_standin.switchboard import Switchboard

bp = Blueprint("control", __name__, url_prefix="/_standin")


def _standin() -> Switchboard:
    return current_app.extensions["standin"]  # type: ignore[no-any-return]


def _error(status: int, message: str) -> Any:
    return jsonify(error=message), status


@bp.get("/health")
def health() -> Any:
    """Liveness and whether the voice side is connected."""
    s = _standin()
    return jsonify(status="ok", voice=s.voice_enabled, hotline_url=s.hotline_url)


def _transcript(call: Any) -> list[dict[str, Any]]:
    """What a person on the call would have heard and done (no request URLs)."""
    shown = (
        "say",
        "play",
        "gather",
        "digits",
        "pressed",
        "dial",
        "bridged",
        "hangup",
        "reject",
        "person-hung-up",
        "error",
        "ended",
    )
    return [e for e in call.log if e["event"] in shown]


def _call_json(call: Any, with_transcript: bool = False) -> dict[str, Any]:
    data = call.to_json()
    if with_transcript:
        data["transcript"] = _transcript(call)
        data["children"] = [
            c.sid for c in _standin().registry.all() if c.parent_call_sid == call.sid
        ]
    return data


@bp.post("/phones")
def set_phone() -> Any:
    """Script a phone: {"number": "+1...", "scripts": [{...}, ...]} (one per call, the last
    repeating; see phones.Script). The number travels in the body, never in a logged URL."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("number"), str):
        return _error(400, 'expected {"number": "+1...", "scripts": [...]}')
    items = body.get("scripts")
    if not isinstance(items, list) or not items:
        return _error(400, "scripts: a non-empty list of objects")
    try:
        scripts = [Script.from_dict(item) for item in items if isinstance(item, dict)]
    except (TypeError, ValueError) as exc:
        return _error(400, str(exc))
    if len(scripts) != len(items):
        return _error(400, "scripts: every item must be an object")
    _standin().phones[body["number"]] = scripts
    return "", 204


@bp.post("/calls")
def dial_in() -> Any:
    """Someone calls the hotline: {"from": "+1...", "script": {...}} or "interactive": true
    (the keypad drives it, see /calls/<sid>/digits)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("from"), str):
        return _error(400, 'expected {"from": "+1...", "script": {...}}')
    standin = _standin()
    if not standin.voice_enabled:
        return _error(409, "the stand-in is not connected to a hotline (--hotline-url)")
    try:
        if body.get("interactive"):
            script = Script.browser()
        elif isinstance(body.get("script"), dict):
            script = Script.from_dict(body["script"])
        else:
            script = None
    except (TypeError, ValueError) as exc:
        return _error(400, str(exc))
    call = standin.dial_in(body["from"], script)
    return jsonify(_call_json(call)), 201


@bp.get("/calls")
def list_calls() -> Any:
    """Every leg, oldest first (the simulator checks them for overlaps)."""
    return jsonify(calls=[_call_json(c) for c in _standin().registry.all()])


@bp.get("/calls/<sid>")
def show_call(sid: str) -> Any:
    """One leg with its transcript."""
    call = _standin().registry.get(sid)
    if call is None:
        return _error(404, "no such call")
    return jsonify(_call_json(call, with_transcript=True))


@bp.post("/calls/<sid>/digits")
def press(sid: str) -> Any:
    """Keys pressed on the keypad of an interactive call."""
    body = request.get_json(silent=True) or {}
    digits = str(body.get("digits", ""))
    if not digits or any(ch not in "0123456789*#" for ch in digits) or len(digits) > 32:
        return _error(400, "digits: 1 to 32 of 0-9, * and #")
    standin = _standin()
    person, call = standin.people.get(sid), standin.registry.get(sid)
    if person is None or call is None:
        return _error(404, "no such call")
    # When, not only what: a key pressed during a prompt stops it ("digits": what a Gather took).
    call.log.append({"event": "pressed", "digits": digits})
    person.press(digits)
    return "", 204


@bp.post("/calls/<sid>/hangup")
def hang_up(sid: str) -> Any:
    """The person on an interactive call hangs up."""
    person = _standin().people.get(sid)
    if person is None:
        return _error(404, "no such call")
    person.hang_up()
    return "", 204


@bp.get("/anomalies")
def anomalies() -> Any:
    """Numbers dialed while already on a call, and webhooks that failed."""
    s = _standin()
    return jsonify(anomalies=list(s.anomalies), webhook_errors=list(s.webhook_errors))


@bp.get("/clock")
def show_clock() -> Any:
    """How fast call time runs: {"factor": 20}."""
    return jsonify(factor=_standin().clock.factor)


@bp.put("/clock")
def set_clock() -> Any:
    """Change how fast call time runs: {"factor": 20}."""
    body = request.get_json(silent=True) or {}
    try:
        factor = float(body.get("factor"))
        _standin().clock.set_factor(factor)
    except (TypeError, ValueError) as exc:
        return _error(400, f"factor: {exc}")
    return jsonify(factor=factor)


@bp.get("/faults")
def show_faults() -> Any:
    """The faults in play (see faults.Faults)."""
    return jsonify(_standin().faults.to_dict())


@bp.put("/faults")
def set_faults() -> Any:
    """Replace the faults: {"lose_status_callbacks": 0.2, "seed": 7, ...}; fields left out
    are off. {} turns every fault off."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(400, "expected a JSON object of faults")
    try:
        faults = Faults.from_dict(body)
    except (TypeError, ValueError) as exc:
        return _error(400, str(exc))
    _standin().set_faults(faults)
    return jsonify(faults.to_dict())
