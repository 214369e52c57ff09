"""The callback machine: what each piece of news about a callback call does to its
reservation, its lead and its counselor.

News comes from the dial job, from Twilio's webhooks and from the sweep's reconciliation
with Twilio's REST API, in any order and any number of times: every move is a
compare-and-set on the reservation's state, so exactly one of them wins and the rest change
nothing. A callback ends in one of the outcomes of :mod:`routing.endings`, which moves the
reservation, the lead and the counselor together; each transition here names its outcome.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum

from redis import Redis

from routing import account, keys, prompts
from routing.counselors import CounselorStatus, get_counselor, set_state
from routing.endings import Ended, Ending, end
from routing.leads import Lead, LeadStatus, get_lead, record_event
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
from routing.twilio_errors import Blame, blame_call
from settings import Settings

log = logging.getLogger(__name__)

#: Seconds a counselor's phone counts as busy once rung, until its leg reports its end (the
#: sweep's reconciliation asks Twilio long before this if that report is lost).
LEG_OPEN_SECONDS = 4 * 3600
#: Seconds past its ring time that a counselor call we never heard of may still last (the
#: whisper, twice, then "no longer available").
UNKNOWN_CALL_SECONDS = 60
#: Whisper prompts a counselor may let pass without a key before it counts as a decline.
WHISPER_TRIES = 2
#: AnsweredBy values of answering-machine detection that mean no person answered.
MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")


# --- Before the counselor takes it ----------------------------------------------------------


def _phone(r: Redis, res: Reservation, mode: str, until: float = 0.0) -> None:
    """Count the counselor's phone busy with this reservation's call until ``until``
    ("open"), or free ("close"): routing/lua/leg.lua."""
    run_script(r, "leg", [keys.COUNSELOR.format(res.counselor_id)], [res.id, mode, repr(until)])


def call_placed(r: Redis, settings: Settings, reservation_id: str, call_sid: str) -> None:
    """The counselor's phone is being rung: remember the CallSid, renew the lease, and
    count the phone as busy until its leg reports its end."""
    res = get_reservation(r, reservation_id)
    if res is None or not res.active:
        return
    if not res.counselor_call_sid:
        set_fields(r, reservation_id, counselor_call_sid=call_sid)
        _phone(r, res, "open", time.time() + LEG_OPEN_SECONDS)
    lease = time.time() + settings.lease_seconds
    advance(r, reservation_id, (S.OFFERED,), S.COUNSELOR_RINGING, lease)


def counselor_missed(r: Redis, settings: Settings, reservation_id: str, why: str) -> Ended | None:
    """No answer, a decline, a voicemail or a hang-up: the callback goes straight back to
    its place (not an attempt on the caller) and the counselor is marked missed."""
    return end(r, settings, reservation_id, Ending.MISSED, BEFORE_ACCEPT, why)


def counselor_unreachable(
    r: Redis, settings: Settings, reservation_id: str, reason: str
) -> Ended | None:
    """The counselor's number cannot be called: offline with the reason, callback back."""
    return end(r, settings, reservation_id, Ending.COUNSELOR_UNREACHABLE, BEFORE_ACCEPT, reason)


def dialing_failed(r: Redis, settings: Settings, reservation_id: str, reason: str) -> Ended | None:
    """An account-level error (dialing is paused): the callback returns to its place and
    the counselor to theirs; nobody is blamed."""
    return end(r, settings, reservation_id, Ending.PAUSED, ACTIVE, reason)


def release(
    r: Redis, settings: Settings, reservation_id: str, why: str, *, call_unknown: bool = False
) -> Ended | None:
    """End a reservation for a reason that is nobody's miss (its lead was cancelled, or
    nothing was heard in time): the lead returns to its place, the counselor is free.
    ``call_unknown``: a call may have been placed whose CallSid never reached us (a worker
    or Redis died in between), so their phone is not rung again until it would be over."""
    hold = settings.counselor_ring_seconds + UNKNOWN_CALL_SECONDS if call_unknown else 0.0
    ended = end(r, settings, reservation_id, Ending.RELEASED, ACTIVE, why, hold_phone=hold)
    if ended is None and get_reservation(r, reservation_id) is None:
        r.zrem(keys.LEASES, reservation_id)  # a lease whose reservation is gone
    return ended


def defer(r: Redis, settings: Settings, reservation_id: str, until: float) -> Ended | None:
    """Outside the caller's calling hours: the lead waits for the window, the counselor is
    free again (not a miss)."""
    return end(
        r, settings, reservation_id, Ending.DEFERRED, (S.OFFERED,), "calling hours", until=until
    )


def lead_failed(r: Redis, settings: Settings, reservation_id: str, reason: str) -> Ended | None:
    """The caller's number can never be called: the lead fails, the counselor is free."""
    return end(r, settings, reservation_id, Ending.LEAD_FAILED, ACTIVE, reason)


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
    res = get_reservation(r, reservation_id)
    if res is None or res.state not in CALLER_LEG:
        return None
    bridged = result.bridged
    if bridged is None:  # an older report: a bridged leg that completed
        bridged = res.state == S.BRIDGED and result.status == "completed"
    if bridged:
        return end(r, settings, res.id, Ending.CONNECTED, CALLER_LEG, "connected")
    if result.status == "failed" and result.error_code:
        blame = blame_call(result.error_code)
        reason = f"Twilio error {result.error_code}"
        if blame is Blame.NUMBER:
            return lead_failed(r, settings, res.id, reason)
        if blame is Blame.ACCOUNT:
            account.pause_dialing(r, int(result.error_code), reason)
            return dialing_failed(r, settings, res.id, reason)
    if result.parent_status == "completed":
        return end(r, settings, res.id, Ending.COUNSELOR_HUNG_UP, CALLER_LEG, "counselor hung up")
    return end(
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
#: Statuses of a leg that has been placed and not answered yet.
RINGING_STATUSES = frozenset({"queued", "initiated", "ringing"})
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
    _phone(r, res, "close")
    if res.state in BEFORE_ACCEPT:
        why = status if status in NOT_ANSWERED else "hung up"
        return counselor_missed(r, settings, res.id, why)
    if res.state == S.BRIDGED:
        return end(r, settings, res.id, Ending.CONNECTED, (S.BRIDGED,), "connected")
    if res.state in CALLER_LEG:
        return end(r, settings, res.id, Ending.COUNSELOR_HUNG_UP, CALLER_LEG, "counselor hung up")
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
