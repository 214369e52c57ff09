"""Twilio voice webhooks: read the form, call the domain, answer with TwiML.

Every route here is under /twilio and is refused (403) without a valid X-Twilio-Signature.
Any error still answers the caller with TwiML (an apology and a safe path), never HTML.
"""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, Response, request, url_for
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from twilio.twiml.voice_response import Gather, VoiceResponse
from werkzeug.exceptions import BadRequest, HTTPException

from hotline.services import get_redis, get_settings, services
from hotline.signatures import signature_is_valid
from hotline.twiml import empty_twiml, twiml
from routing import callbacks, intake, prompts, reservation
from routing.ivr import Menu, Phrase, Turn
from routing.leads import LeadStatus
from workers import jobs, twilio_rest

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
    """Answer Twilio with TwiML whatever went wrong: the IVR's apology (emergency numbers
    first) to a caller who called us; a neutral line on a callback leg, which someone else
    or a voicemail may hear. Whatever the error left undone, the sweep's reconciliation
    with Twilio finishes (Twilio does not retry a webhook that failed)."""
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        if exc.code in (403, 404, 405, 413):
            return Response(f"{exc.name}\n", exc.code, mimetype="text/plain")
    if isinstance(exc, BadRequest):
        log.warning("webhook %s: bad request (%s)", request.path, exc.description)
    elif isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        # One line each: an outage would otherwise bury the log in identical tracebacks.
        log.error("webhook %s failed: no Redis (%s)", request.path, type(exc).__name__)
    else:
        log.exception("webhook %s failed", request.path)
    if request.path.startswith("/twilio/callback/"):
        return _goodbye("callback_trouble", "en", also="es")
    return _apology()


def _apology() -> Response:
    """The apology in both languages, then hang up (also the fallback URL's answer)."""
    response = VoiceResponse()
    for language in ("en", "es"):
        _speak(response, "apology", language)
    response.hangup()
    return twiml(response)


@bp.post("/fallback")
def fallback() -> Response:
    """The number's Fallback URL: Twilio asks it when the Voice URL failed. It reads no
    Redis and calls no domain code, so it answers while the rest of Hotline cannot."""
    return _apology()


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
        request.args.get("lead"),
    )
    if turn.queued and not turn.nobody_free:
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
    return empty_twiml()


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
    except Exception:  # the lead is queued; the periodic sweep matches it
        log.exception("could not request matching; the sweep will match the lead")


#: Stands for the lead id in a step URL of a kept TwiML document (ids are [A-Z0-9]).
LEAD_MARK = "LEAD-ID"


def _step_url(step: str) -> str:
    """Absolute public URL of an IVR step, what Twilio requests (and signs) next, naming
    the call's lead as ``LEAD_MARK`` (routing.intake: the step's script is given its keys)."""
    return get_settings().public_base_url + _step_path(step)


@functools.lru_cache(maxsize=32)
def _step_path(step: str) -> str:
    """The path part of :func:`_step_url`, built once per step (the blueprint's rule is the
    same in every app; ``url_for`` costs as much as the rest of rendering a menu)."""
    return url_for("twilio.ivr_step", step=step, lead=LEAD_MARK)


def _say(verb: VoiceResponse | Gather, phrase: Phrase, language: str) -> None:
    lang = phrase.language or language
    voice_name, locale = prompts.voice(lang)
    verb.say(prompts.text(phrase.key, lang, **phrase.params), voice=voice_name, language=locale)


def _ivr_twiml(turn: Turn) -> Response:
    """An IVR turn as TwiML: its prompts inside a DTMF-only Gather (falling through to the
    same step without Digits on a timeout), or its prompts and a Hangup.

    Most turns are fixed menus (no number, place or wait in them), so their documents are
    rendered once per process and reused, with the lead's id put in their URLs; a turn with
    anything of the caller's in it is rendered for that caller and never kept.
    """
    url = _step_url(turn.menu.step.value) if turn.menu is not None else ""
    if any(phrase.params for phrase in turn.say):
        body = _render_ivr(turn.say, turn.menu, turn.state.language, url)
    else:
        keys_ = tuple((phrase.key, phrase.language) for phrase in turn.say)
        body = _fixed_ivr_twiml(keys_, turn.menu, turn.state.language, url)
    return Response(body.replace(LEAD_MARK, turn.lead_id), mimetype="text/xml")


@functools.lru_cache(maxsize=512)
def _fixed_ivr_twiml(
    phrases: tuple[tuple[str, str | None], ...], menu: Menu | None, language: str, url: str
) -> str:
    """``_render_ivr`` of a turn whose phrases, (key, language) pairs, have no parameters."""
    say = tuple(Phrase(key, language=lang) for key, lang in phrases)
    return _render_ivr(say, menu, language, url)


def _render_ivr(say: tuple[Phrase, ...], menu: Menu | None, language: str, url: str) -> str:
    response = VoiceResponse()
    if menu is None:
        for phrase in say:
            _say(response, phrase, language)
        response.hangup()
        return str(response)
    options: dict[str, object] = {}
    if menu.finish_on_key:
        options["finish_on_key"] = menu.finish_on_key
    gather = response.gather(
        action=url,
        method="POST",
        input="dtmf",
        num_digits=menu.num_digits,
        timeout=menu.timeout,
        **options,
    )
    for phrase in say:
        _say(gather, phrase, language)
    response.redirect(url, method="POST")
    return str(response)


# --- Callback calls: counselor and caller legs -------------------------------------------


def _callback_url(reservation_id: str, leg: str) -> str:
    """Absolute public URL of one callback webhook (what Twilio requests, and signs)."""
    return twilio_rest.callback_url(get_settings(), reservation_id, leg)


def _speak(response: VoiceResponse | Gather, key: str, language: str, **params: object) -> None:
    voice_name, locale = prompts.voice(language)
    response.say(prompts.text(key, language, **params), voice=voice_name, language=locale)


def _goodbye(key: str, language: str, also: str = "", **params: object) -> Response:
    response = VoiceResponse()
    _speak(response, key, language, **params)
    if also:
        _speak(response, key, also, **params)
    response.hangup()
    return twiml(response)


def _hang_up() -> Response:
    response = VoiceResponse()
    response.hangup()
    return twiml(response)


def _one_key(response: VoiceResponse, reservation_id: str, leg: str) -> Gather:
    """A Gather of one key posted to the callback webhook ``leg``, even when none is pressed."""
    return response.gather(
        action=_callback_url(reservation_id, leg),
        method="POST",
        input="dtmf",
        num_digits=1,
        timeout=6,
        action_on_empty_result=True,
    )


def _follow_up(ended: callbacks.Ended | None) -> None:
    """Timers and matching after a callback ended; if Redis refuses, the sweep does it."""
    if ended is None:
        return
    try:
        jobs.follow_up(services(), ended)
    except Exception:  # the sweep's due and wrap-up lists are the safety net
        log.exception("could not follow up reservation %s; the sweep will", ended.reservation_id)


@bp.post("/callback/<reservation_id>/whisper")
def callback_whisper(reservation_id: str) -> Response:
    """The counselor answered: the lead in a few words, then press 1 to accept."""
    r, settings = get_redis(), get_settings()
    answered_by = request.form.get("AnsweredBy", "")
    whisper = callbacks.counselor_answered(r, settings, reservation_id, answered_by)
    if whisper is None:
        if answered_by in callbacks.MACHINE:
            _request_match()
            return _hang_up()
        return _goodbye("callback_gone", callbacks.counselor_language(r, reservation_id))
    response = VoiceResponse()
    gather = _one_key(response, reservation_id, "accept")
    voice_name, locale = prompts.voice(whisper.language)
    gather.say(whisper.text, voice=voice_name, language=locale)
    return twiml(response)


@bp.post("/callback/<reservation_id>/accept")
def callback_accept(reservation_id: str) -> Response:
    """The counselor's key: 1 dials the caller, 2 declines, nothing or another key asks
    again (twice without a key counts as a decline)."""
    r, settings = get_redis(), get_settings()
    digits = request.form.get("Digits", "").strip()
    language = callbacks.counselor_language(r, reservation_id)
    if digits == "1":
        lead = callbacks.accept(r, settings, reservation_id)
        if lead is None:
            return _goodbye("callback_gone", language)
        response = VoiceResponse()
        _speak(response, "callback_connecting", language)
        dial = response.dial(
            caller_id=settings.callback_from,
            action=_callback_url(reservation_id, "dial-result"),
            method="POST",
            timeout=settings.caller_ring_seconds,
        )
        dial.number(
            lead.phone,
            url=_callback_url(reservation_id, "screen"),
            method="POST",
            # Asynchronous for a dialed number: the result arrives at its own callback
            # while the screen runs; DetectMessageEnd lets a message follow the beep.
            machine_detection="DetectMessageEnd",
            amd_status_callback=_callback_url(reservation_id, "amd"),
            amd_status_callback_method="POST",
            status_callback=_callback_url(reservation_id, "caller-status"),
            status_callback_event="initiated ringing answered completed",
            status_callback_method="POST",
        )
        return twiml(response)
    if digits == "2":
        ended = callbacks.counselor_missed(r, settings, reservation_id, "declined")
        _follow_up(ended)
        return _goodbye("callback_declined", language)
    if digits == "":
        if not callbacks.no_key(r, settings, reservation_id):
            _request_match()
            return _goodbye("callback_gone", language)
    response = VoiceResponse()
    if digits:
        _speak(response, "callback_press", language)
    response.redirect(_callback_url(reservation_id, "whisper"), method="POST")
    return twiml(response)


@bp.post("/callback/<reservation_id>/screen")
def callback_screen(reservation_id: str) -> Response:
    """The caller's phone answered: a neutral greeting while answering-machine detection
    decides, then the check. Never a word of what we are or why we call."""
    r, settings = get_redis(), get_settings()
    if not callbacks.caller_answered(r, settings, reservation_id, request.form.get("CallSid", "")):
        return _hang_up()
    language = callbacks.lead_language(r, reservation_id)
    response = VoiceResponse()
    _speak(response, "callback_greeting", language)
    response.pause(length=1)
    response.redirect(_callback_url(reservation_id, "screen-check"), method="POST")
    return twiml(response)


@bp.post("/callback/<reservation_id>/screen-check")
def callback_screen_check(reservation_id: str) -> Response:
    """A person is bridged (the end of this TwiML joins the legs); a machine hears the
    neutral message; not known yet, the person is asked to press 1."""
    r, settings = get_redis(), get_settings()
    digits = request.form.get("Digits")
    decision = callbacks.screen(r, settings, reservation_id, digits)
    language = callbacks.lead_language(r, reservation_id)
    response = VoiceResponse()
    if decision is callbacks.Screen.BRIDGE:
        return twiml(response)
    if decision is callbacks.Screen.VOICEMAIL:
        return _goodbye("callback_voicemail", language)
    if decision is callbacks.Screen.ASK:
        gather = _one_key(response, reservation_id, "screen-check")
        _speak(gather, "callback_press_to_connect", language)
        return twiml(response)
    return _hang_up()


@bp.post("/callback/<reservation_id>/amd")
def callback_amd(reservation_id: str) -> Response:
    """Answering-machine detection's result for the caller's leg."""
    callbacks.machine_detected(get_redis(), reservation_id, request.form.get("AnsweredBy", ""))
    return empty_twiml()


@bp.post("/callback/<reservation_id>/dial-result")
def callback_dial_result(reservation_id: str) -> Response:
    """The caller's leg ended (the Dial's action): wrap-up, a retry, or back in line."""
    r, settings = get_redis(), get_settings()
    form = request.form
    bridged = form.get("DialBridged")
    result = callbacks.DialResult(
        status=form.get("DialCallStatus", ""),
        bridged=None if bridged is None else bridged.lower() == "true",
        parent_status=form.get("CallStatus", ""),
        error_code=form.get("ErrorCode", ""),
    )
    ended = callbacks.caller_leg_ended(r, settings, reservation_id, result)
    _follow_up(ended)
    if ended is None:
        return _hang_up()
    language = callbacks.counselor_language(r, reservation_id)
    if ended.lead_status == LeadStatus.CONNECTED:
        return _goodbye("callback_ended", language, seconds=settings.wrapup_seconds)
    if ended.lead_status == LeadStatus.RETRY_WAIT:
        outcome = ended.why.replace("-", " ")
        return _goodbye("callback_retry", language, outcome=outcome)
    return _goodbye(_AFTER_CALL.get(ended.lead_status, "callback_requeued"), language)


#: What the counselor hears after the caller's leg, by the lead's status then.
_AFTER_CALL = {
    LeadStatus.UNREACHABLE.value: "callback_unreachable",
    LeadStatus.FAILED.value: "callback_failed",
    LeadStatus.WAITING.value: "callback_requeued",
}


@bp.post("/callback/<reservation_id>/counselor-status")
def callback_counselor_status(reservation_id: str) -> Response:
    """Status callbacks of the counselor's leg. Repeated or late ones (SequenceNumber, and
    the state already held) change nothing."""
    r, settings = get_redis(), get_settings()
    status = request.form.get("CallStatus", "")
    if not reservation.first_news(
        r, reservation_id, "counselor", request.form.get("SequenceNumber")
    ):
        return empty_twiml()
    if status in callbacks.FINAL_STATUSES:
        ended = callbacks.counselor_leg_ended(r, settings, reservation_id, status)
        _follow_up(ended)
        _request_match()  # their phone is free again
    elif status in callbacks.RINGING_STATUSES:
        callbacks.call_placed(r, settings, reservation_id, request.form.get("CallSid", ""))
    return empty_twiml()


@bp.post("/callback/<reservation_id>/caller-status")
def callback_caller_status(reservation_id: str) -> Response:
    """Status callbacks of the caller's leg: its CallSid is kept for reconciliation; the
    Dial's action decides the outcome."""
    callbacks.caller_leg_seen(get_redis(), reservation_id, request.form.get("CallSid", ""))
    return empty_twiml()
