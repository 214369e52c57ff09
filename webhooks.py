"""Twilio voice webhooks: read the form, call the domain, answer with TwiML.

Every route here is under /twilio and is refused (403) without a valid X-Twilio-Signature.
Any error still answers the caller with TwiML (an apology and a safe path), never HTML.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request, url_for
from twilio.twiml.voice_response import Gather, VoiceResponse
from werkzeug.exceptions import BadRequest, HTTPException

from hotline.services import get_redis, get_settings, services
from hotline.signatures import signature_is_valid
from hotline.twiml import twiml
from routing import intake, prompts
from routing.ivr import Phrase, Turn
from workers import jobs

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


@bp.post("/voice")
def inbound_call() -> Response:
    """The number's Voice URL: emergency notice and language menu (or, for a caller already
    waiting, keep or cancel). A repeated delivery of the same CallSid changes nothing."""
    turn = intake.answer_call(get_redis(), get_settings(), _call_sid(), request.form.get("From"))
    return _ivr_twiml(turn)


@bp.post("/ivr/<step>")
def ivr_step(step: str) -> Response:
    """The caller's key presses for one IVR step (no Digits: the menu timed out)."""
    turn = intake.answer_step(
        get_redis(),
        get_settings(),
        _call_sid(),
        step,
        request.form.get("Digits"),
        request.form.get("From"),
    )
    if turn.queued:
        _request_match()
    return _ivr_twiml(turn)


@bp.post("/status")
def inbound_status() -> Response:
    """The inbound call's status callback: a hang-up mid-IVR still queues the caller."""
    lead = intake.call_ended(
        get_redis(), get_settings(), _call_sid(), request.form.get("CallStatus", "")
    )
    if lead is not None:
        _request_match()
    return twiml(VoiceResponse())


def _call_sid() -> str:
    """The request's CallSid. Twilio always sends one; without it the request is answered
    by ``apologise`` (apologetic TwiML), having changed nothing."""
    call_sid = request.form.get("CallSid", "").strip()
    if not call_sid:
        raise BadRequest("missing CallSid")
    return call_sid


def _request_match() -> None:
    """Ask a worker to match the new lead now."""
    try:
        jobs.request_match(services())
    except Exception:  # noqa: BLE001 - the lead is queued; the periodic sweep matches it
        log.exception("could not request matching; the sweep will match the lead")


def _step_url(step: str) -> str:
    """Absolute public URL of an IVR step: what Twilio requests, and signs, next."""
    return get_settings().public_base_url + url_for("twilio.ivr_step", step=step)


def _say(verb: VoiceResponse | Gather, phrase: Phrase, language: str) -> None:
    lang = phrase.language or language
    voice_name, locale = prompts.voice(lang)
    verb.say(prompts.text(phrase.key, lang, **phrase.params), voice=voice_name, language=locale)


def _ivr_twiml(turn: Turn) -> Response:
    """An IVR turn as TwiML: its prompts inside a DTMF-only Gather (falling through to the
    same step without Digits on a timeout), or its prompts and a Hangup."""
    response = VoiceResponse()
    language = turn.state.language
    if turn.menu is None:
        for phrase in turn.say:
            _say(response, phrase, language)
        response.hangup()
        return twiml(response)
    url = _step_url(turn.menu.step.value)
    options: dict[str, object] = {}
    if turn.menu.finish_on_key:
        options["finish_on_key"] = turn.menu.finish_on_key
    gather = response.gather(
        action=url,
        method="POST",
        input="dtmf",
        num_digits=turn.menu.num_digits,
        timeout=turn.menu.timeout,
        **options,
    )
    for phrase in turn.say:
        _say(gather, phrase, language)
    response.redirect(url, method="POST")
    return twiml(response)


# --- Callback calls: counselor and caller legs (issue: routing) ----------------------
