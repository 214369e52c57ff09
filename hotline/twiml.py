"""Returning TwiML from Flask views."""

from __future__ import annotations

from flask import Response
from twilio.twiml.voice_response import VoiceResponse

#: The empty document (status callbacks and ignored legs answer it), rendered once.
_EMPTY = str(VoiceResponse())


def twiml(response: VoiceResponse, status: int = 200) -> Response:
    """A text/xml response holding the TwiML document."""
    return Response(str(response), status=status, mimetype="text/xml")


def empty_twiml() -> Response:
    """An empty TwiML document: nothing to say or do."""
    return Response(_EMPTY, mimetype="text/xml")
