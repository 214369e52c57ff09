"""The callback machine: what each piece of news about a callback call does to its
reservation, its lead and its counselor.

News comes from the dial job, from Twilio's webhooks and from the sweep's reconciliation
with Twilio's REST API, in any order and any number of times: every move is a
compare-and-set on the reservation's state, so exactly one of them wins and the rest change
nothing. A callback ends in one of the :class:`Ending` outcomes; :data:`MOVES` says, once
for each, what happens to the three records, and :func:`_end` applies it in one atomic
script (routing/lua/end_reservation.lua).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

from redis import Redis

from routing import account, keys, prompts, stats
from routing.counselors import Counselor, CounselorStatus, get_counselor, set_state
from routing.leads import Lead, LeadStatus, get_lead, history_entry, record_event
from routing.matching import all_idle_keys
from routing.phones import InvalidNumber, mask, parse_number
from routing.reservation import (
    ACTIVE,
    BEFORE_ACCEPT,
    CALLER_LEG,
    Reservation,
    advance,
    get_reservation,
    set_fields,
)
from routing.reservation import ReservationState as S
from routing.scripts import run_script
from settings import Settings

log = logging.getLogger(__name__)

#: Seconds a counselor's phone counts as still on our call after the callback is over for
#: us (they hear a last message and hang up); their leg's final status ends it sooner.
LEG_GRACE_SECONDS = 30
#: Seconds a counselor's phone counts as busy once rung, until its leg reports its end (the
#: sweep's reconciliation asks Twilio long before this if that report is lost).
LEG_OPEN_SECONDS = 4 * 3600
#: Whisper prompts a counselor may let pass without a key before it counts as a decline.
WHISPER_TRIES = 2
#: AnsweredBy values of answering-machine detection that mean no person answered.
MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")
#: Handle times kept for wait estimates.
HANDLE_TIMES_KEPT = 50


class Ending(StrEnum):
    """How a callback call ended."""

    MISSED = "missed"  # the counselor did not take it (no answer, declined, voicemail)
    COUNSELOR_UNREACHABLE = "counselor_unreachable"  # their number cannot be called
    COUNSELOR_HUNG_UP = "counselor_hung_up"  # before the caller was connected
    PAUSED = "paused"  # an account-level error: nobody's fault, dialing paused
    RELEASED = "released"  # the lead was cancelled, or nothing was heard in time
    DEFERRED = "deferred"  # outside the caller's calling hours
    LEAD_FAILED = "lead_failed"  # the caller's number cannot be called
    CALLER_UNREACHED = "caller_unreached"  # no answer, busy, a machine, nobody pressed 1
    CONNECTED = "connected"  # bridged; the call is over


@dataclass(frozen=True)
class Move:
    """What an ending does: the reservation's final state, where the lead goes (``queue``
    back to its place, ``retry`` an attempt with a retry or unreachable, ``fail``,
    ``defer``, ``connect``), what becomes of the counselor (``missed``, ``offline``,
    ``free``, ``free_keep_place``, ``wrap_up``) and of their phone (``cap`` or ``close``)."""

    state: S
    lead: str
    counselor: str
    leg: str


MOVES: dict[Ending, Move] = {
    Ending.MISSED: Move(S.MISSED, "queue", "missed", "cap"),
    Ending.COUNSELOR_UNREACHABLE: Move(S.FAILED, "queue", "offline", "close"),
    Ending.COUNSELOR_HUNG_UP: Move(S.MISSED, "queue", "free", "cap"),
    Ending.PAUSED: Move(S.RECLAIMED, "queue", "free_keep_place", "close"),
    Ending.RELEASED: Move(S.RECLAIMED, "queue", "free", "cap"),
    Ending.DEFERRED: Move(S.DEFERRED, "defer", "free", "close"),
    Ending.LEAD_FAILED: Move(S.FAILED, "fail", "free", "cap"),
    Ending.CALLER_UNREACHED: Move(S.CALLER_UNREACHED, "retry", "free", "cap"),
    Ending.CONNECTED: Move(S.CONNECTED, "connect", "wrap_up", "cap"),
}


@dataclass(frozen=True)
class Ended:
    """A callback that just ended: what the caller of :func:`_end` must follow up on."""

    ending: Ending
    reservation_id: str
    lead_id: str
    counselor_id: str
    #: The lead's status now (waiting, retry_wait, unreachable, ...).
    lead_status: str
    #: When a retry_wait or deferred lead is due back in line, else None.
    due: float | None
    #: Whether the counselor is now in wrap-up (a timer must end it).
    wrap_up: bool
    #: Why, in a few words (the reservation's outcome).
    why: str = ""


# --- The one move that ends a reservation -------------------------------------------------


def _end(
    r: Redis,
    settings: Settings,
    reservation_id: str,
    ending: Ending,
    allowed: tuple[str, ...],
    why: str,
    *,
    until: float = 0.0,
    now: float | None = None,
) -> Ended | None:
    """End a reservation that is in one of ``allowed`` states with ``ending``; None if it
    was elsewhere (too late: another piece of news got there first)."""
    now = time.time() if now is None else now
    res = get_reservation(r, reservation_id)
    if res is None or res.state not in allowed:
        return None
    lead, counselor = get_lead(r, res.lead_id), get_counselor(r, res.counselor_id)
    move = MOVES[ending]
    lead_args, lead_status, due = _lead_args(settings, move, res, lead, why, until, now)
    counselor_args, wrap_up = _counselor_args(settings, move, counselor, why, now)
    script_keys = [
        keys.RESERVATION.format(res.id),
        keys.LEASES,
        keys.LEAD.format(res.lead_id),
        keys.WAITING.format(lead.language, lead.insurance) if lead else keys.WAITING_ALL,
        keys.WAITING_ALL,
        keys.DUE,
        keys.LEAD_EVENTS.format(res.lead_id),
        keys.LEAD_ATTEMPTS.format(res.lead_id),
        keys.COUNSELOR.format(res.counselor_id),
        keys.WRAPUPS,
        *all_idle_keys(),
    ]
    args = [
        " ".join(allowed),
        move.state.value,
        repr(now),
        why,
        *lead_args,
        LeadStatus.RESERVED.value,
        " ".join((CounselorStatus.RESERVED.value, CounselorStatus.ON_CALL.value)),
        *counselor_args,
        move.leg,
        repr(now + LEG_GRACE_SECONDS),
    ]
    done = run_script(r, "end_reservation", script_keys, args)
    if not done:
        return None
    lead_moved = bool(int(done[1]))
    if lead_moved and lead_status == LeadStatus.CONNECTED.value:
        stats.incr(r, settings.report_time_zone, stats.CALLBACKS_CONNECTED)
        _record_handle_time(r, settings, res, now)
    elif lead_moved and lead_status == LeadStatus.UNREACHABLE.value:
        stats.incr(r, settings.report_time_zone, stats.UNREACHABLE)
    log.info("reservation %s %s (%s)", res.id, ending.value, why)
    return Ended(
        ending,
        res.id,
        res.lead_id,
        res.counselor_id,
        lead_status if lead_moved else (lead.status if lead else "missing"),
        due if lead_moved else None,
        wrap_up and bool(int(done[2])),
        why,
    )


def _lead_args(
    settings: Settings,
    move: Move,
    res: Reservation,
    lead: Lead | None,
    why: str,
    until: float,
    now: float,
) -> tuple[list[str], str, float | None]:
    """The end script's lead arguments, the lead's new status and when it is due."""
    if lead is None:
        return ["keep", "", "0", "{}", "", ""], "", None
    fields: dict[str, str] = {}
    attempt = ""
    due: float | None = None
    if move.lead == "queue":
        place, status, value = "queue", LeadStatus.WAITING.value, res.score
        event = history_entry("requeued", reason=why, reservation=res.id)
    elif move.lead == "defer":
        place, status, value, due = "due", LeadStatus.DEFERRED.value, until, until
        event = history_entry("deferred", until=until, reservation=res.id)
    elif move.lead == "fail":
        place, status, value = "none", LeadStatus.FAILED.value, 0.0
        fields["status_reason"] = why
        event = history_entry("failed", reason=why, reservation=res.id)
    else:
        number = lead.attempts + 1
        fields["attempts"] = str(number)
        outcome = "connected" if move.lead == "connect" else why
        attempt = json.dumps(
            {
                "attempt": number,
                "at": now,
                "reservation": res.id,
                "counselor": res.counselor_id,
                "outcome": outcome,
            }
        )
        if move.lead == "connect":
            place, status, value = "none", LeadStatus.CONNECTED.value, 0.0
            fields["status_reason"] = ""
            # Connected when the legs were joined, not when the call ended (reports).
            entry = json.loads(history_entry("connected", reservation=res.id))
            entry.update(at=res.bridged_at or now, counselor=res.counselor_id)
            event = json.dumps(entry)
        elif number > len(settings.retry_delays):
            place, status, value = "none", LeadStatus.UNREACHABLE.value, 0.0
            fields["status_reason"] = f"not reached after {number} attempts"
            event = history_entry("unreachable", attempts=number)
        else:
            from routing.hours import next_call_time  # noqa: PLC0415 - hours imports leads

            lead.attempts = number
            due = next_call_time(
                lead, settings.calling_hours, now + settings.retry_delays[number - 1]
            )
            place, status, value = "due", LeadStatus.RETRY_WAIT.value, due
            fields["status_reason"] = why
            event = history_entry("retry_scheduled", attempt=number, outcome=why, due=due)
    args = [place, status, repr(value), json.dumps(fields), event, attempt]
    return args, status, due


def _counselor_args(
    settings: Settings, move: Move, counselor: Counselor | None, why: str, now: float
) -> tuple[list[str], bool]:
    """The end script's counselor arguments, and whether they go into wrap-up."""
    if counselor is None:
        return ["", "{}", "", "0", ""], False
    fields: dict[str, str] = {}
    status = CounselorStatus.AVAILABLE.value
    idle_since = now
    wrapup = ""
    if move.counselor == "missed":
        missed = counselor.missed_offers + 1
        fields.update(missed_offers=str(missed), status_reason=why)
        if missed >= settings.max_missed_offers:
            status = CounselorStatus.OFFLINE.value
            fields["status_reason"] = f"missed {missed} offers in a row"
        else:
            status = CounselorStatus.MISSED.value
    elif move.counselor == "offline":
        status = CounselorStatus.OFFLINE.value
        fields["status_reason"] = why
    elif move.counselor == "wrap_up":
        status = CounselorStatus.WRAP_UP.value
        wrapup = repr(now + settings.wrapup_seconds)
    elif move.counselor == "free_keep_place":
        idle_since = counselor.idle_since or now
    if status in (CounselorStatus.AVAILABLE.value, CounselorStatus.MISSED.value):
        fields["idle_since"] = repr(idle_since)
        every = all_idle_keys()
        join = " ".join(str(every.index(k) + 1) for k in counselor.idle_keys())
    else:
        join = ""
    return [status, json.dumps(fields), join, repr(idle_since), wrapup], bool(wrapup)


def _record_handle_time(r: Redis, settings: Settings, res: Reservation, now: float) -> None:
    if res.bridged_at:
        pipe = r.pipeline()
        pipe.lpush(keys.HANDLE_TIMES, int(now - res.bridged_at) + settings.wrapup_seconds)
        pipe.ltrim(keys.HANDLE_TIMES, 0, HANDLE_TIMES_KEPT - 1)
        pipe.execute()


# --- Before the counselor takes it ----------------------------------------------------------


def call_placed(r: Redis, settings: Settings, reservation_id: str, call_sid: str) -> None:
    """The counselor's phone is being rung: remember the CallSid, renew the lease, and
    count the phone as busy until its leg reports its end."""
    res = get_reservation(r, reservation_id)
    if res is None or not res.active:
        return
    if not res.counselor_call_sid:
        set_fields(r, reservation_id, counselor_call_sid=call_sid)
        run_script(
            r,
            "leg",
            [keys.COUNSELOR.format(res.counselor_id)],
            [res.id, "open", repr(time.time() + LEG_OPEN_SECONDS)],
        )
    lease = time.time() + settings.lease_seconds
    advance(r, reservation_id, (S.OFFERED,), S.COUNSELOR_RINGING, lease)


def counselor_missed(r: Redis, settings: Settings, reservation_id: str, why: str) -> Ended | None:
    """No answer, a decline, a voicemail or a hang-up: the callback goes straight back to
    its place (not an attempt on the caller) and the counselor is marked missed."""
    return _end(r, settings, reservation_id, Ending.MISSED, BEFORE_ACCEPT, why)


def counselor_unreachable(
    r: Redis, settings: Settings, reservation_id: str, reason: str
) -> Ended | None:
    """The counselor's number cannot be called: offline with the reason, callback back."""
    return _end(r, settings, reservation_id, Ending.COUNSELOR_UNREACHABLE, BEFORE_ACCEPT, reason)


def dialing_failed(r: Redis, settings: Settings, reservation_id: str, reason: str) -> Ended | None:
    """An account-level error (dialing is paused): the callback returns to its place and
    the counselor to theirs; nobody is blamed."""
    return _end(r, settings, reservation_id, Ending.PAUSED, ACTIVE, reason)


def release(r: Redis, settings: Settings, reservation_id: str, why: str) -> Ended | None:
    """End a reservation for a reason that is nobody's miss (its lead was cancelled, or
    nothing was heard in time): the lead returns to its place, the counselor is free."""
    ended = _end(r, settings, reservation_id, Ending.RELEASED, ACTIVE, why)
    if ended is None and get_reservation(r, reservation_id) is None:
        r.zrem(keys.LEASES, reservation_id)  # a lease whose reservation is gone
    return ended


def defer(r: Redis, settings: Settings, reservation_id: str, until: float) -> Ended | None:
    """Outside the caller's calling hours: the lead waits for the window, the counselor is
    free again (not a miss)."""
    return _end(
        r, settings, reservation_id, Ending.DEFERRED, (S.OFFERED,), "calling hours", until=until
    )


def lead_failed(r: Redis, settings: Settings, reservation_id: str, reason: str) -> Ended | None:
    """The caller's number can never be called: the lead fails, the counselor is free."""
    return _end(r, settings, reservation_id, Ending.LEAD_FAILED, ACTIVE, reason)


def caller_number(lead: Lead) -> str | None:
    """The lead's number if it can be dialed, else None."""
    try:
        return parse_number(lead.phone)
    except InvalidNumber:
        return None


@dataclass
class Whisper:
    """What to tell a counselor who answered: the lead summary and its language."""

    language: str
    text: str


def counselor_answered(
    r: Redis, settings: Settings, reservation_id: str, answered_by: str = ""
) -> Whisper | None:
    """The counselor's phone was answered. A whisper to play, or None (a voicemail, or a
    reservation no longer alive: hang up)."""
    if answered_by in MACHINE:
        counselor_missed(r, settings, reservation_id, "voicemail")
        return None
    lease = time.time() + settings.lease_seconds
    if not advance(r, reservation_id, BEFORE_ACCEPT, S.WHISPER, lease):
        return None
    res = get_reservation(r, reservation_id)
    lead = get_lead(r, res.lead_id) if res else None
    counselor = get_counselor(r, res.counselor_id) if res else None
    if lead is None or counselor is None:
        return None
    language = counselor.languages[0] if counselor.languages else "en"
    return Whisper(language, prompts.whisper(lead, language, time.time()))


def no_key(r: Redis, settings: Settings, reservation_id: str) -> bool:
    """The whisper passed without a key: True to ask again, False once it counts as a
    decline (the reservation is then missed)."""
    res = get_reservation(r, reservation_id)
    if res is None or res.state != S.WHISPER:
        return False
    tries = r.hincrby(keys.RESERVATION.format(reservation_id), "whisper_tries", 1)
    if tries < WHISPER_TRIES:
        return True
    counselor_missed(r, settings, reservation_id, "no key pressed")
    return False


def accept(r: Redis, settings: Settings, reservation_id: str) -> Lead | None:
    """The counselor pressed 1: the lead to dial, or None if the offer is gone."""
    res = get_reservation(r, reservation_id)
    if res is None or res.state != S.WHISPER:
        return None
    lead = get_lead(r, res.lead_id)
    held_by = r.hget(keys.LEAD.format(res.lead_id), "reservation")
    if lead is None or lead.status != LeadStatus.RESERVED.value or held_by != res.id:
        # Cancelled or removed while the counselor listened: free them, dial nobody.
        release(r, settings, reservation_id, "lead no longer waiting")
        return None
    lease = time.time() + settings.lease_seconds + settings.caller_ring_seconds
    if not advance(r, reservation_id, (S.WHISPER,), S.CALLER_DIALING, lease):
        return None
    counselor = get_counselor(r, res.counselor_id)
    if counselor is not None:
        set_state(
            r,
            counselor,
            (CounselorStatus.RESERVED.value,),
            CounselorStatus.ON_CALL.value,
            holding=res.id,
            missed_offers="0",
            status_reason="",
        )
    record_event(r, lead.id, "dialing", reservation=res.id, counselor=res.counselor_id)
    log.info("reservation %s accepted; dialing caller %s", res.id, mask(lead.phone))
    return lead


# --- The caller's leg -------------------------------------------------------------------


class Screen(StrEnum):
    """What the caller's leg does once answered, before it is joined to the counselor."""

    BRIDGE = "bridge"  # a person: end the screen, Twilio joins the legs
    ASK = "ask"  # not known yet: ask for a key a machine will not press
    VOICEMAIL = "voicemail"  # a machine: leave the neutral message and hang up
    HANG_UP = "hang_up"  # nobody pressed 1, or the callback is over


def caller_answered(r: Redis, settings: Settings, reservation_id: str, call_sid: str) -> bool:
    """The caller's phone was answered (AMD still deciding): False if the callback is over."""
    res = get_reservation(r, reservation_id)
    if res is None:
        return False
    if call_sid and not res.caller_call_sid:
        set_fields(r, reservation_id, caller_call_sid=call_sid)
    lease = time.time() + settings.lease_seconds
    return advance(r, reservation_id, (S.CALLER_DIALING,), S.SCREENING, lease) or (
        res.state in (S.SCREENING, S.BRIDGED)
    )


def machine_detected(r: Redis, reservation_id: str, answered_by: str) -> None:
    """Answering-machine detection's result for the caller's leg (its own callback)."""
    res = get_reservation(r, reservation_id)
    if res is not None and res.state in CALLER_LEG and answered_by:
        set_fields(r, reservation_id, answered_by=answered_by)


def screen(r: Redis, settings: Settings, reservation_id: str, digits: str | None) -> Screen:
    """Decide the answered caller leg: a person (AMD said human, or they pressed 1) is
    bridged; a machine hears the neutral message; ``unknown`` or no result yet is asked to
    press 1 (``digits`` None: not asked yet), and nobody pressing it is not a person."""
    res = get_reservation(r, reservation_id)
    if res is None or res.state not in (S.SCREENING, S.BRIDGED):
        return Screen.HANG_UP
    if res.state == S.BRIDGED:
        return Screen.BRIDGE
    person = res.answered_by == "human" or (digits or "").startswith("1")
    if person:
        now = time.time()
        lease = now + settings.lease_seconds
        if advance(
            r, reservation_id, (S.SCREENING,), S.BRIDGED, lease, now=now, bridged_at=repr(now)
        ):
            return Screen.BRIDGE
        return Screen.HANG_UP
    if res.answered_by in MACHINE:
        return Screen.VOICEMAIL
    return Screen.ASK if digits is None else Screen.HANG_UP


@dataclass(frozen=True)
class DialResult:
    """The <Dial> action's report on the caller's leg."""

    status: str  # DialCallStatus
    bridged: bool | None = None  # DialBridged (None when Twilio did not say)
    parent_status: str = ""  # CallStatus of the counselor's leg at that moment
    error_code: str = ""


def caller_leg_ended(
    r: Redis, settings: Settings, reservation_id: str, result: DialResult
) -> Ended | None:
    """The caller's leg is over (the Dial's action): connected only if the legs were
    bridged; the counselor hanging up before that costs the caller no attempt."""
    from routing.twilio_errors import Blame, blame_call  # noqa: PLC0415

    res = get_reservation(r, reservation_id)
    if res is None or res.state not in CALLER_LEG:
        return None
    bridged = result.bridged
    if bridged is None:  # an older report: a bridged leg that completed
        bridged = res.state == S.BRIDGED and result.status == "completed"
    if bridged:
        return _end(r, settings, res.id, Ending.CONNECTED, CALLER_LEG, "connected")
    if result.status == "failed" and result.error_code:
        blame = blame_call(result.error_code)
        reason = f"Twilio error {result.error_code}"
        if blame is Blame.NUMBER:
            return lead_failed(r, settings, res.id, reason)
        if blame is Blame.ACCOUNT:
            account.pause_dialing(r, int(result.error_code), reason)
            return dialing_failed(r, settings, res.id, reason)
    if result.parent_status == "completed":
        return _end(r, settings, res.id, Ending.COUNSELOR_HUNG_UP, CALLER_LEG, "counselor hung up")
    return _end(
        r, settings, res.id, Ending.CALLER_UNREACHED, CALLER_LEG, _caller_outcome(res, result)
    )


def _caller_outcome(res: Reservation, result: DialResult) -> str:
    """Why the caller was not reached, for their history and the counselor."""
    if res.answered_by in MACHINE:
        return "machine"
    if res.state == S.SCREENING:
        return "no person answered"
    if result.status == "completed":
        return "hung up"
    return result.status or "failed"


# --- The counselor's leg ----------------------------------------------------------------

#: Final statuses of a call leg.
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
#: Final statuses meaning the leg never reached a person.
NOT_ANSWERED = frozenset({"busy", "no-answer", "failed", "canceled"})


def counselor_leg_ended(
    r: Redis, settings: Settings, reservation_id: str, status: str
) -> Ended | None:
    """The counselor's phone hung up (a final status of their leg): it may be rung again,
    and a callback still alive ends as that means in its state."""
    res = get_reservation(r, reservation_id)
    if res is None:
        return None
    run_script(r, "leg", [keys.COUNSELOR.format(res.counselor_id)], [res.id, "close", "0"])
    if res.state in BEFORE_ACCEPT:
        why = status if status in NOT_ANSWERED else "hung up"
        return counselor_missed(r, settings, res.id, why)
    if res.state == S.BRIDGED:
        return _end(r, settings, res.id, Ending.CONNECTED, (S.BRIDGED,), "connected")
    if res.state in CALLER_LEG:
        return _end(r, settings, res.id, Ending.COUNSELOR_HUNG_UP, CALLER_LEG, "counselor hung up")
    return None


def touch(r: Redis, settings: Settings, reservation_id: str) -> None:
    """Twilio says the call is still live: renew the lease for another look later."""
    res = get_reservation(r, reservation_id)
    if res is not None and res.active:
        lease = time.time() + settings.lease_seconds
        advance(r, reservation_id, (res.state,), res.state, lease, checks=str(res.checks + 1))


def caller_leg_seen(r: Redis, reservation_id: str, call_sid: str) -> None:
    """A status callback of the caller's leg: keep its CallSid for reconciliation."""
    res = get_reservation(r, reservation_id)
    if res is not None and res.active and call_sid and not res.caller_call_sid:
        set_fields(r, reservation_id, caller_call_sid=call_sid)


def counselor_language(r: Redis, reservation_id: str) -> str:
    """The language the counselor of a reservation hears (their first)."""
    res = get_reservation(r, reservation_id)
    counselor = get_counselor(r, res.counselor_id) if res else None
    return counselor.languages[0] if counselor and counselor.languages else "en"


def lead_language(r: Redis, reservation_id: str) -> str:
    """The language of the caller of a reservation."""
    res = get_reservation(r, reservation_id)
    lead = get_lead(r, res.lead_id) if res else None
    return lead.language if lead else "en"
