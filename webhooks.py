"""Twilio voice webhooks: read the form, call the domain, answer with TwiML.

Every route here is under /twilio and is refused (403) without a valid X-Twilio-Signature.
Any error still answers the caller with TwiML (an apology and a safe path), never HTML.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from hotline.signatures import signature_is_valid
from hotline.twiml import twiml

log = logging.getLogger(__name__)

bp = Blueprint("twilio", __name__, url_prefix="/twilio")


@bp.before_request
def require_signature() -> Response | None:
    """403 for a missing or forged signature, before anything is read or changed."""
    if not signature_is_valid():
        log.warning("rejected unsigned or forged request to %s", request.path)
        return Response("Forbidden: invalid Twilio signature\n", 403, mimetype="text/plain")
    return None


@bp.errorhandler(Exception)
def apologise(exc: Exception) -> Response:
    """Answer Twilio with apologetic TwiML whatever went wrong."""
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        if exc.code in (403, 404, 405, 413):
            return Response(f"{exc.name}\n", exc.code, mimetype="text/plain")
    log.exception("webhook %s failed", request.path)
    response = VoiceResponse()
    response.say(
        "We are sorry, something went wrong on our side. If you are in danger or may have "
        "overdosed, hang up and dial 9 1 1. If you are thinking about suicide, call or text "
        "9 8 8. Please call us again.",
        voice="Polly.Joanna",
        language="en-US",
    )
    response.say(
        "Lo sentimos, hubo un problema de nuestro lado. Si está en peligro, cuelgue y marque "
        "9 1 1. Por favor llámenos de nuevo.",
        voice="Polly.Lupe",
        language="es-US",
    )
    response.hangup()
    return twiml(response)


# --- Inbound calls: the IVR (issue: intake) -------------------------------------------

# --- Callback calls: counselor and caller legs (issue: routing) ----------------------
