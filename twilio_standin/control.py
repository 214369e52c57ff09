"""The stand-in's own control API (not Twilio's): scripted phones, dialing in, the keypad.

Used by ``hotline simulate`` and the try-it page when the stand-in runs as a process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, jsonify, request

from twilio_standin.phones import Script

if TYPE_CHECKING:
    from twilio_standin.server import StandIn

bp = Blueprint("control", __name__, url_prefix="/_standin")


def _standin() -> StandIn:
    return current_app.extensions["standin"]  # type: ignore[no-any-return]


def _error(status: int, message: str) -> Any:
    return jsonify(error=message), status


@bp.get("/health")
def health() -> Any:
    """Liveness and whether the voice side is connected."""
    s = _standin()
    return jsonify(status="ok", voice=s.voice_enabled, hotline_url=s.hotline_url)
