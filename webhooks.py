"""Twilio voice webhooks: read the form, call the domain, answer with TwiML.

Every route here is under /twilio and is refused (403) without a valid X-Twilio-Signature.
Any error still answers the caller with TwiML (an apology and a safe path), never HTML.
"""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, Response, request, url_for
from twilio.twiml.voice_response import Gather, VoiceResponse
from werkzeug.exceptions import BadRequest, HTTPException

from hotline.services import get_redis, get_settings, services
from hotline.signatures import signature_is_valid
from hotline.twiml import empty_twiml, twiml
from routing import callbacks, intake, prompts
from routing.ivr import Menu, Phrase, Turn
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
    same step without Digits on a timeout), or its prompts and a Hangup.

    Most turns are fixed menus (no number, place or wait in them), so their documents are
    rendered once per process and reused; a turn with anything of the caller's in it is
    rendered for that caller and never kept.
    """
    url = _step_url(turn.menu.step.value) if turn.menu is not None else ""
    if any(phrase.params for phrase in turn.say):
        body = _render_ivr(turn.say, turn.menu, turn.state.language, url)
    else:
        keys_ = tuple((phrase.key, phrase.language) for phrase in turn.say)
        body = _fixed_ivr_twiml(keys_, turn.menu, turn.state.language, url)
    return Response(body, mimetype="text/xml")


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


# --- Callback calls: counselor and caller legs (issue: routing) ----------------------

#: Twilio error codes on the caller's leg that no retry can fix (invalid or unreachable
#: number formats); the lead is marked failed with the code.
PERMANENT_CALLER_ERRORS = frozenset({"13223", "13224", "21211", "21214", "21217", "21612"})
#: Statuses of the counselor leg meaning it never reached a person.
NOT_ANSWERED = frozenset({"busy", "no-answer", "failed", "canceled"})


def _callback_url(reservation_id: str, leg: str) -> str:
    """Absolute public URL of one callback webhook (what Twilio requests, and signs)."""
    return get_settings().public_base_url + url_for(
        f"twilio.callback_{leg.replace('-', '_')}", reservation_id=reservation_id
    )


def _speak(response: VoiceResponse | Gather, key: str, language: str, **params: object) -> None:
    voice_name, locale = prompts.voice(language)
    response.say(
        CALLBACK_PHRASES[key][language].format(**params), voice=voice_name, language=locale
    )


#: What the callback legs say, in both languages. The caller's side never names the
#: hotline or its purpose: someone else may answer, and a voicemail may be heard by anyone.
CALLBACK_PHRASES: dict[str, dict[str, str]] = {
    "gone": {
        "en": "This callback is no longer available. Thank you.",
        "es": "Esta devolución de llamada ya no está disponible. Gracias.",
    },
    "press": {
        "en": "Please press 1 to accept or 2 to decline.",
        "es": "Pulse 1 para aceptar o 2 para rechazar.",
    },
    "declined": {
        "en": "Declined. The caller keeps their place in line. Thank you.",
        "es": "Rechazada. La persona conserva su lugar en la fila. Gracias.",
    },
    "connecting": {
        "en": "Calling them now. Please hold.",
        "es": "Llamando ahora. Por favor espere.",
    },
    "greeting": {
        "en": "Hello, this is the call you asked us to return. Please hold.",
        "es": "Hola, esta es la llamada que nos pidió devolver. Por favor espere.",
    },
    "voicemail": {
        "en": "Hello, we are returning your call. Please call us back when you can. Thank you.",
        "es": "Hola, le devolvemos su llamada. Por favor llámenos cuando pueda. Gracias.",
    },
    "ended": {
        "en": "The call has ended. You have {seconds} seconds of wrap-up.",
        "es": "La llamada terminó. Tiene {seconds} segundos para cerrar el caso.",
    },
    "retry": {
        "en": "The caller was not reached ({outcome}). We will try again later. "
        "You are available again.",
        "es": "No se pudo contactar a la persona ({outcome}). Lo intentaremos más "
        "tarde. Usted está disponible de nuevo.",
    },
    "unreachable": {
        "en": "The caller was not reached after every attempt. You are available again.",
        "es": "No se pudo contactar a la persona tras todos los intentos. Usted "
        "está disponible de nuevo.",
    },
    "failed": {
        "en": "The caller's number cannot be called. You are available again.",
        "es": "No se puede llamar a ese número. Usted está disponible de nuevo.",
    },
}


def _counselor_language(reservation_id: str) -> str:
    """The language the counselor of a reservation hears (their first)."""
    from routing.counselors import get_counselor  # noqa: PLC0415

    res = callbacks.get_reservation(get_redis(), reservation_id)
    counselor = get_counselor(get_redis(), res.counselor_id) if res else None
    return counselor.languages[0] if counselor and counselor.languages else "en"


def _lead_language(reservation_id: str) -> str:
    from routing.leads import get_lead  # noqa: PLC0415

    res = callbacks.get_reservation(get_redis(), reservation_id)
    lead = get_lead(get_redis(), res.lead_id) if res else None
    return lead.language if lead else "en"


def _goodbye(key: str, language: str, **params: object) -> Response:
    response = VoiceResponse()
    _speak(response, key, language, **params)
    response.hangup()
    return twiml(response)


def _after_caller_leg(reservation_id: str, outcome: str) -> None:
    """Timers after the caller's leg ended: wrap-up end, or the lead's retry."""
    from routing import keys  # noqa: PLC0415

    r = get_redis()
    res = callbacks.get_reservation(r, reservation_id)
    if res is None:
        return
    if outcome == "connected":
        _schedule(jobs.schedule_wrapup_end, res.counselor_id)
        return
    due = r.zscore(keys.DUE, res.lead_id)
    if due is not None:
        _schedule(jobs.schedule_requeue, res.lead_id, due)
    _request_match()


def _schedule(fn: object, *args: object) -> None:
    """Queue a timer job; if Redis refuses, the sweep does the same work a little later."""
    try:
        fn(services(), *args)  # type: ignore[operator]
    except Exception:  # noqa: BLE001 - the sweep's due/wrap-up lists are the safety net
        log.exception("could not schedule %s; the sweep will do it", getattr(fn, "__name__", fn))


@bp.post("/callback/<reservation_id>/whisper")
def callback_whisper(reservation_id: str) -> Response:
    """The counselor answered: the lead in a few words, then press 1 to accept."""
    r, settings = get_redis(), get_settings()
    answered_by = request.form.get("AnsweredBy", "")
    whisper = callbacks.counselor_answered(r, settings, reservation_id, answered_by)
    if whisper is None:
        if answered_by in callbacks.MACHINE:
            _request_match()
            response = VoiceResponse()
            response.hangup()
            return twiml(response)
        return _goodbye("gone", _counselor_language(reservation_id))
    response = VoiceResponse()
    gather = response.gather(
        action=_callback_url(reservation_id, "accept"),
        method="POST",
        input="dtmf",
        num_digits=1,
        timeout=6,
        action_on_empty_result=True,
    )
    voice_name, locale = prompts.voice(whisper.language)
    gather.say(whisper.text, voice=voice_name, language=locale)
    return twiml(response)


@bp.post("/callback/<reservation_id>/accept")
def callback_accept(reservation_id: str) -> Response:
    """The counselor's key: 1 dials the caller, 2 declines, nothing or another key asks
    again (twice without a key counts as a decline)."""
    r, settings = get_redis(), get_settings()
    digits = request.form.get("Digits", "").strip()
    language = _counselor_language(reservation_id)
    if digits == "1":
        lead = callbacks.accept(r, settings, reservation_id)
        if lead is None:
            return _goodbye("gone", language)
        response = VoiceResponse()
        _speak(response, "connecting", language)
        dial = response.dial(
            caller_id=settings.hotline_number,
            action=_callback_url(reservation_id, "dial-result"),
            method="POST",
            timeout=settings.caller_ring_seconds,
        )
        dial.number(
            lead.phone,
            url=_callback_url(reservation_id, "screen"),
            method="POST",
            # Detect the end of a greeting, so a generic message can follow the beep.
            machine_detection="DetectMessageEnd",
            status_callback=_callback_url(reservation_id, "caller-status"),
            status_callback_event="initiated ringing answered completed",
            status_callback_method="POST",
        )
        return twiml(response)
    if digits == "2":
        if callbacks.counselor_missed(r, settings, reservation_id, "declined"):
            _request_match()
        return _goodbye("declined", language)
    if digits == "":
        if not callbacks.no_key(r, settings, reservation_id):
            _request_match()
            return _goodbye("gone", language)
    response = VoiceResponse()
    if digits:
        _speak(response, "press", language)
    response.redirect(_callback_url(reservation_id, "whisper"), method="POST")
    return twiml(response)


@bp.post("/callback/<reservation_id>/screen")
def callback_screen(reservation_id: str) -> Response:
    """The caller's phone answered: a person is bridged; a machine gets a generic message
    (never what we are or why we call) and the caller leg hangs up."""
    r, settings = get_redis(), get_settings()
    answered_by = request.form.get("AnsweredBy", "") or "unknown"
    language = _lead_language(reservation_id)
    response = VoiceResponse()
    if callbacks.caller_answered(r, settings, reservation_id, answered_by):
        _speak(response, "greeting", language)
        return twiml(response)  # the end of this TwiML bridges the two legs
    if answered_by in callbacks.MACHINE:
        _speak(response, "voicemail", language)
    response.hangup()
    return twiml(response)


@bp.post("/callback/<reservation_id>/dial-result")
def callback_dial_result(reservation_id: str) -> Response:
    """The caller's leg ended (the Dial's action): wrap-up, or a retry with backoff."""
    r, settings = get_redis(), get_settings()
    status = request.form.get("DialCallStatus", "")
    language = _counselor_language(reservation_id)
    if status == "failed" and request.form.get("ErrorCode", "") in PERMANENT_CALLER_ERRORS:
        reason = f"Twilio error {request.form['ErrorCode']}"
        if callbacks.lead_failed(r, reservation_id, reason):
            _request_match()
        return _goodbye("failed", language)
    outcome = callbacks.call_ended(r, settings, reservation_id, status)
    if not outcome:
        response = VoiceResponse()
        response.hangup()
        return twiml(response)
    _after_caller_leg(reservation_id, outcome)
    if outcome == "connected":
        return _goodbye("ended", language, seconds=settings.wrapup_seconds)
    res = callbacks.get_reservation(r, reservation_id)
    from routing.leads import get_lead  # noqa: PLC0415

    lead = get_lead(r, res.lead_id) if res else None
    if lead is not None and lead.status == "unreachable":
        return _goodbye("unreachable", language)
    return _goodbye("retry", language, outcome=outcome.replace("-", " "))


@bp.post("/callback/<reservation_id>/counselor-status")
def callback_counselor_status(reservation_id: str) -> Response:
    """Status callbacks of the counselor's leg. Repeated or late ones (SequenceNumber, and
    the state already held) change nothing."""
    r, settings = get_redis(), get_settings()
    status = request.form.get("CallStatus", "")
    if not callbacks.first_news(r, reservation_id, "counselor", request.form.get("SequenceNumber")):
        return empty_twiml()
    res = callbacks.get_reservation(r, reservation_id)
    if res is None:
        return empty_twiml()
    if status in NOT_ANSWERED or status == "completed":
        # Whatever the state, this phone has hung up: once the state machine is done with
        # this news, the counselor may be rung again.
        freed = _counselor_leg_final(res, status)
        callbacks.counselor_leg_ended(r, reservation_id)
        if freed:
            _request_match()
    elif status in ("initiated", "ringing", "queued") and res.active:
        callbacks.call_placed(r, settings, reservation_id, request.form.get("CallSid", ""))
    return empty_twiml()


def _counselor_leg_final(res: callbacks.Reservation, status: str) -> bool:
    """Apply the counselor leg's final status; True if a counselor or lead was freed."""
    r, settings = get_redis(), get_settings()
    if not res.active:
        return True  # the reservation ended earlier: only the phone was still busy
    if status in NOT_ANSWERED:
        return callbacks.counselor_missed(r, settings, res.id, status)
    if res.state in callbacks.BEFORE_ACCEPT:
        return callbacks.counselor_missed(r, settings, res.id, "hung up")
    kind = "counselor-hung-up" if res.state == callbacks.CALLER_DIALING else "completed"
    outcome = callbacks.call_ended(r, settings, res.id, kind)
    if outcome and outcome != "requeued":
        _after_caller_leg(res.id, outcome)
    return bool(outcome)


@bp.post("/callback/<reservation_id>/caller-status")
def callback_caller_status(reservation_id: str) -> Response:
    """Status callbacks of the caller's leg: the Dial's action decides; this only logs."""
    log.info("reservation %s caller leg %s", reservation_id, request.form.get("CallStatus"))
    return empty_twiml()
