"""Returning TwiML from Flask views."""

from __future__ import annotations

from flask import Response
from twilio.twiml.voice_response import VoiceResponse


def twiml(response: VoiceResponse, status: int = 200) -> Response:
    """A text/xml response holding the TwiML document."""
    return Response(str(response), status=status, mimetype="text/xml")
