"""The callback state machine: one reservation (a lead offered to a counselor) from the
counselor's phone ringing to a bridged call, a miss, or a caller not reached.

Every transition is a compare-and-set on the reservation's state (a Lua script), so a
webhook that Twilio repeats, a status callback that arrives late, a retried job and a
sweep reclaiming a lease can all race: exactly one of them wins and the rest change nothing.
These functions are plain domain code given Redis; webhooks and jobs turn their results
into TwiML and REST calls.

Reservation states: offered -> counselor_ringing -> whisper -> caller_dialing -> bridged ->
connected; or missed (counselor did not take it), caller_unreached, deferred (outside
calling hours), failed (permanent error), reclaimed (lease expired).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from redis import Redis

from routing import keys, stats
from routing.counselors import Counselor, CounselorStatus, get_counselor, set_state
from routing.hours import next_call_time
from routing.leads import Lead, LeadStatus, get_lead, record_event
from routing.matching import flat_pairs, run_script
from routing.phones import InvalidNumber, mask, parse_number
from routing.queue import bucket_key
from settings import Settings

log = logging.getLogger(__name__)

OFFERED = "offered"
COUNSELOR_RINGING = "counselor_ringing"
WHISPER = "whisper"
CALLER_DIALING = "caller_dialing"
BRIDGED = "bridged"
CONNECTED = "connected"
MISSED = "missed"
CALLER_UNREACHED = "caller_unreached"
DEFERRED = "deferred"
FAILED = "failed"
RECLAIMED = "reclaimed"

#: States in which the counselor has not taken the callback yet.
BEFORE_ACCEPT = (OFFERED, COUNSELOR_RINGING, WHISPER)
#: States a reservation is alive in (holding its lead and counselor).
ACTIVE = (*BEFORE_ACCEPT, CALLER_DIALING, BRIDGED)
#: A bridged call reports its end itself; this long lease only frees a counselor whose
#: call's end never reached us.
BRIDGED_LEASE_SECONDS = 4 * 3600
#: Seconds a counselor's phone counts as still on our call after the callback is over for
#: us (they hear a last message and hang up); their leg's final status ends it sooner.
LEG_GRACE_SECONDS = 30
#: Whisper prompts a counselor may let pass without a key before it counts as a decline.
WHISPER_TRIES = 2
#: AnsweredBy values of answering-machine detection that mean no person answered.
MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")
#: Handle times kept for wait estimates.
HANDLE_TIMES_KEPT = 50


@dataclass
class Reservation:
    """A callback being placed: which lead, which counselor, and how far it got."""

    id: str
    lead_id: str
    counselor_id: str
    state: str
    score: float
    created_at: float
    counselor_call_sid: str = ""
    answered_by: str = ""
    whisper_tries: int = 0
    bridged_at: float = 0.0
    outcome: str = ""

    @classmethod
    def from_redis(cls, data: dict[str, str]) -> Reservation:
        """Rebuild from HGETALL (decoded)."""
        return cls(
            id=data["id"],
            lead_id=data["lead_id"],
            counselor_id=data["counselor_id"],
            state=data["state"],
            score=float(data.get("score") or 0),
            created_at=float(data.get("created_at") or 0),
            counselor_call_sid=data.get("counselor_call_sid", ""),
            answered_by=data.get("answered_by", ""),
            whisper_tries=int(data.get("whisper_tries") or 0),
            bridged_at=float(data.get("bridged_at") or 0),
            outcome=data.get("outcome", ""),
        )

    @property
    def active(self) -> bool:
        """Whether it still holds its lead and counselor."""
        return self.state in ACTIVE


def get_reservation(r: Redis, reservation_id: str) -> Reservation | None:
    """Load a reservation, or None (unknown id)."""
    data = r.hgetall(keys.RESERVATION.format(reservation_id))
    return Reservation.from_redis(data) if data else None  # type: ignore[arg-type]


def transition(
    r: Redis,
    reservation_id: str,
    allowed: tuple[str, ...],
    state: str,
    lease: float | None | str = "-",
    now: float | None = None,
    **fields: Any,
) -> str | None:
    """Compare-and-set: move from one of ``allowed`` to ``state``; the previous state, or
    None if the reservation was elsewhere. ``lease``: "-" keep, None drop, a number set."""
    now = time.time() if now is None else now
    lease_arg = "" if lease is None else (lease if isinstance(lease, str) else repr(lease))
    args: list[Any] = [" ".join(allowed), state, repr(now), lease_arg, *flat_pairs(fields)]
    prev = run_script(
        r, "reservation_state", [keys.RESERVATION.format(reservation_id), keys.LEASES], args
    )
    return str(prev) if prev else None


def first_news(r: Redis, reservation_id: str, leg: str, sequence: str | None) -> bool:
    """Whether a status callback is new: False if its SequenceNumber was already seen."""
    if sequence is None or not sequence.isdigit():
        return True  # nothing to order by: the state machine alone guards it
    return bool(
        run_script(r, "seen", [keys.RESERVATION.format(reservation_id)], [f"seq_{leg}", sequence])
    )


# --- Lead moves ------------------------------------------------------------------------


def _lead_state(
    r: Redis,
    lead: Lead,
    allowed: tuple[str, ...],
    status: str,
    mode: str,
    value: float = 0.0,
    holding: str = "",
    now: float | None = None,
    **fields: Any,
) -> bool:
    now = time.time() if now is None else now
    args: list[Any] = [
        " ".join(allowed),
        status,
        repr(now),
        mode,
        repr(value),
        holding,
        *flat_pairs(fields),
    ]
    keys_ = [
        keys.LEAD.format(lead.id),
        bucket_key(lead.language, lead.insurance),
        keys.WAITING_ALL,
        keys.DUE,
    ]
    return bool(run_script(r, "lead_state", keys_, args))


def _back_in_line(r: Redis, res: Reservation, lead: Lead, why: str) -> bool:
    """The callback returns to its original place (same score): not an attempt."""
    done = _lead_state(
        r,
        lead,
        (LeadStatus.RESERVED.value,),
        LeadStatus.WAITING.value,
        "queue",
        res.score,
        holding=res.id,
    )
    if done:
        record_event(r, lead.id, "requeued", reason=why, reservation=res.id)
    return done


def requeue_due(r: Redis, settings: Settings, lead_id: str, now: float | None = None) -> str:
    """A retry or deferred lead's time has come: back in line at its original score, or
    deferred again if it is outside the caller's calling hours. Returns the lead's status."""
    now = time.time() if now is None else now
    lead = get_lead(r, lead_id)
    if lead is None:
        r.zrem(keys.DUE, lead_id)
        return "missing"
    waiting_for = (LeadStatus.RETRY_WAIT.value, LeadStatus.DEFERRED.value)
    if lead.status not in waiting_for:
        r.zrem(keys.DUE, lead_id)
        return lead.status
    due = r.zscore(keys.DUE, lead_id)
    if due is not None and due > now:
        return lead.status  # a stale job: the sweep (or a later job) brings it back
    at = next_call_time(lead, settings.calling_hours, now)
    if at > now:
        _lead_state(r, lead, waiting_for, LeadStatus.DEFERRED.value, "due", at)
        record_event(r, lead.id, "deferred", until=at)
        return LeadStatus.DEFERRED.value
    score = lead.queue_score(settings.urgent_head_start, settings.self_head_start)
    if _lead_state(r, lead, waiting_for, LeadStatus.WAITING.value, "queue", score):
        record_event(r, lead.id, "requeued", reason="due")
        return LeadStatus.WAITING.value
    return get_lead(r, lead_id).status  # type: ignore[union-attr]


def due_leads(r: Redis, now: float) -> list[str]:
    """Leads whose retry or deferral time has come."""
    return list(r.zrangebyscore(keys.DUE, "-inf", now, start=0, num=500))


# --- Counselor moves -------------------------------------------------------------------


def _release_counselor(
    r: Redis, res: Reservation, status: str = "available", **fields: Any
) -> Counselor | None:
    """Free the counselor held by this reservation (idle since now)."""
    counselor = get_counselor(r, res.counselor_id)
    if counselor is None:
        return None
    held = (CounselorStatus.RESERVED.value, CounselorStatus.ON_CALL.value)
    set_state(r, counselor, held, status, holding=res.id, reservation="", **fields)
    return counselor


def _counselor_missed(r: Redis, settings: Settings, res: Reservation, why: str) -> None:
    """A missed offer: back of the idle line, or offline after MAX_MISSED_OFFERS in a row."""
    counselor = get_counselor(r, res.counselor_id)
    if counselor is None:
        return
    missed = counselor.missed_offers + 1
    held = (CounselorStatus.RESERVED.value, CounselorStatus.ON_CALL.value)
    if missed >= settings.max_missed_offers:
        set_state(
            r,
            counselor,
            held,
            CounselorStatus.OFFLINE.value,
            holding=res.id,
            reservation="",
            missed_offers=str(missed),
            status_reason=f"missed {missed} offers in a row",
        )
        log.info("counselor %s offline after %d missed offers", counselor.id, missed)
    else:
        set_state(
            r,
            counselor,
            held,
            CounselorStatus.MISSED.value,
            holding=res.id,
            reservation="",
            missed_offers=str(missed),
            status_reason=why,
        )


def _leg(r: Redis, res: Reservation, mode: str, until: float = 0.0) -> None:
    """Open, cap or close the counselor's leg (see routing/lua/leg.lua)."""
    run_script(r, "leg", [keys.COUNSELOR.format(res.counselor_id)], [res.id, mode, repr(until)])


def _leg_winding_down(r: Redis, res: Reservation) -> None:
    """The callback is over but the counselor may still be on the line for a moment."""
    _leg(r, res, "cap", time.time() + LEG_GRACE_SECONDS)


def counselor_leg_ended(r: Redis, reservation_id: str) -> None:
    """The counselor's phone hung up (a final status of their leg): ringable again."""
    res = get_reservation(r, reservation_id)
    if res is not None:
        _leg(r, res, "close")


# --- Transitions driven by the dial job and Twilio's webhooks ---------------------------


def call_placed(r: Redis, settings: Settings, reservation_id: str, call_sid: str) -> None:
    """The counselor's phone is being rung: remember the CallSid, renew the lease."""
    lease = time.time() + settings.lease_seconds
    res = get_reservation(r, reservation_id)
    if res is not None and res.active and not res.counselor_call_sid:
        # Busy until the leg reports its end (or the reservation ends and caps it).
        _leg(r, res, "open", time.time() + BRIDGED_LEASE_SECONDS)
    if not transition(
        r, reservation_id, (OFFERED,), COUNSELOR_RINGING, lease, counselor_call_sid=call_sid
    ):
        # A status callback got there first; still record the CallSid if it is alive.
        res = get_reservation(r, reservation_id)
        if res and res.active and not res.counselor_call_sid:
            r.hset(keys.RESERVATION.format(reservation_id), "counselor_call_sid", call_sid)


def counselor_missed(r: Redis, settings: Settings, reservation_id: str, why: str) -> bool:
    """No answer, a decline or a voicemail: the callback goes straight back to its place
    (not an attempt on the caller) and the counselor is marked missed. False if too late."""
    if not transition(r, reservation_id, BEFORE_ACCEPT, MISSED, None, outcome=why):
        return False
    res = get_reservation(r, reservation_id)
    assert res is not None
    lead = get_lead(r, res.lead_id)
    if lead is not None:
        _back_in_line(r, res, lead, f"counselor {why}")
    _leg_winding_down(r, res)
    _counselor_missed(r, settings, res, why)
    log.info("reservation %s: counselor %s %s", res.id, res.counselor_id, why)
    return True


def counselor_unreachable(r: Redis, reservation_id: str, reason: str) -> bool:
    """A permanent error calling the counselor: offline with the reason, callback back."""
    if not transition(r, reservation_id, BEFORE_ACCEPT, FAILED, None, outcome=reason):
        return False
    res = get_reservation(r, reservation_id)
    assert res is not None
    lead = get_lead(r, res.lead_id)
    if lead is not None:
        _back_in_line(r, res, lead, "counselor unreachable")
    _leg(r, res, "close")  # no call was placed
    _release_counselor(r, res, CounselorStatus.OFFLINE.value, status_reason=reason)
    log.warning("counselor %s offline: %s", res.counselor_id, reason)
    return True


def lead_failed(r: Redis, reservation_id: str, reason: str) -> bool:
    """A permanent error on the caller's side (for example an invalid number): the lead is
    failed with the reason and the counselor is free again."""
    res = get_reservation(r, reservation_id)
    if res is None or not transition(r, reservation_id, ACTIVE, FAILED, None, outcome=reason):
        return False
    lead = get_lead(r, res.lead_id)
    if lead is not None:
        _lead_state(
            r,
            lead,
            (LeadStatus.RESERVED.value,),
            LeadStatus.FAILED.value,
            "none",
            holding=res.id,
            status_reason=reason,
        )
        record_event(r, lead.id, "failed", reason=reason, reservation=res.id)
    _leg_winding_down(r, res)
    _release_counselor(r, res)
    log.warning("lead %s failed: %s", res.lead_id, reason)
    return True


def defer(r: Redis, settings: Settings, reservation_id: str, until: float) -> bool:
    """Outside the caller's calling hours: the lead waits for the window, the counselor is
    free again (not a miss)."""
    res = get_reservation(r, reservation_id)
    if res is None or not transition(r, reservation_id, (OFFERED,), DEFERRED, None):
        return False
    lead = get_lead(r, res.lead_id)
    if lead is not None:
        _lead_state(
            r,
            lead,
            (LeadStatus.RESERVED.value,),
            LeadStatus.DEFERRED.value,
            "due",
            until,
            holding=res.id,
        )
        record_event(r, lead.id, "deferred", until=until, reservation=res.id)
    _release_counselor(r, res)
    return True


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
    """The counselor's phone was answered. A whisper to play, or None (a voicemail or a
    reservation no longer alive: hang up)."""
    if answered_by in MACHINE:
        counselor_missed(r, settings, reservation_id, "voicemail")
        return None
    lease = time.time() + settings.lease_seconds
    if not transition(r, reservation_id, (OFFERED, COUNSELOR_RINGING, WHISPER), WHISPER, lease):
        return None
    res = get_reservation(r, reservation_id)
    assert res is not None
    lead = get_lead(r, res.lead_id)
    counselor = get_counselor(r, res.counselor_id)
    if lead is None or counselor is None:
        return None
    language = counselor.languages[0] if counselor.languages else "en"
    return Whisper(language, whisper_text(lead, language, time.time()))


def whisper_text(lead: Lead, language: str, now: float) -> str:
    """The lead in a few words for the counselor: no name, no number."""
    minutes = max(0, int(now - lead.first_call_at) // 60)
    ins_en = {
        "ppo": "P P O",
        "hmo": "H M O",
        "medicaid": "Medicaid",
        "medicare": "Medicare",
        "none": "no insurance",
        "unknown": "insurance unknown",
    }
    ins_es = {
        "ppo": "P P O",
        "hmo": "H M O",
        "medicaid": "Medicaid",
        "medicare": "Medicare",
        "none": "sin seguro",
        "unknown": "seguro desconocido",
    }
    if language == "es":
        who = "para sí mismo" if lead.situation == "self" else "por otra persona"
        urgent = "Urgente: en abstinencia o consumiendo ahora. " if lead.urgent else ""
        tongue = "español" if lead.language == "es" else "inglés"
        return (
            f"Devolución de llamada. {urgent}Llama {who}. Habla {tongue}. "
            f"{ins_es.get(lead.insurance, lead.insurance)}. Esperó {minutes} minutos. "
            "Pulse 1 para aceptar, 2 para rechazar."
        )
    who = "for themselves" if lead.situation == "self" else "for someone else"
    urgent = "Urgent: in withdrawal or using now. " if lead.urgent else ""
    tongue = "Spanish" if lead.language == "es" else "English"
    return (
        f"Callback. {urgent}Calling {who}. Speaks {tongue}. "
        f"{ins_en.get(lead.insurance, lead.insurance)}. Waited {minutes} minutes. "
        "Press 1 to accept, 2 to decline."
    )


def no_key(r: Redis, settings: Settings, reservation_id: str) -> bool:
    """The whisper passed without a key: True to ask again, False once it counts as a
    decline (the reservation is then missed)."""
    tries = r.hincrby(keys.RESERVATION.format(reservation_id), "whisper_tries", 1)
    if tries < WHISPER_TRIES:
        return True
    counselor_missed(r, settings, reservation_id, "no key pressed")
    return False


def accept(r: Redis, settings: Settings, reservation_id: str) -> Lead | None:
    """The counselor pressed 1: the lead to dial, or None if the offer is gone."""
    res = get_reservation(r, reservation_id)
    if res is None:
        return None
    lead = get_lead(r, res.lead_id)
    if lead is None or lead.status != LeadStatus.RESERVED.value:
        # Cancelled or removed while the counselor listened: free them, dial nobody.
        release(r, settings, reservation_id, "lead no longer waiting")
        return None
    lease = time.time() + settings.lease_seconds + settings.caller_ring_seconds
    if not transition(r, reservation_id, (WHISPER,), CALLER_DIALING, lease):
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


def caller_answered(r: Redis, settings: Settings, reservation_id: str, answered_by: str) -> bool:
    """The caller's phone was answered: True for a person (bridge), False for a machine
    (the outcome is recorded; the Dial's result then retries the lead)."""
    human = answered_by not in MACHINE
    if not human:
        transition(
            r,
            reservation_id,
            (CALLER_DIALING,),
            CALLER_DIALING,
            "-",
            answered_by=answered_by or "machine",
        )
        return False
    now = time.time()
    if not transition(
        r,
        reservation_id,
        (CALLER_DIALING,),
        BRIDGED,
        now + BRIDGED_LEASE_SECONDS,
        now=now,
        answered_by=answered_by or "human",
        bridged_at=repr(now),
    ):
        return False
    res = get_reservation(r, reservation_id)
    assert res is not None
    lead = get_lead(r, res.lead_id)
    if lead is not None:
        attempt = lead.attempts + 1
        _lead_state(
            r,
            lead,
            (LeadStatus.RESERVED.value,),
            LeadStatus.CONNECTED.value,
            "none",
            holding=res.id,
            attempts=str(attempt),
            status_reason="",
        )
        _record_attempt(r, lead.id, attempt, res, "connected", now)
        record_event(r, lead.id, "connected", reservation=res.id, counselor=res.counselor_id)
        stats.incr(r, settings.report_time_zone, stats.CALLBACKS_CONNECTED)
    return True


def call_ended(
    r: Redis, settings: Settings, reservation_id: str, dial_status: str = "completed"
) -> str:
    """The caller leg is over (the Dial's action, or the counselor hung up). Returns the
    outcome: "connected" (bridged, counselor in wrap-up), a caller outcome such as
    "no-answer" or "machine" (retry scheduled), "requeued" (the counselor hung up before the
    caller answered) or "" if already handled."""
    res = get_reservation(r, reservation_id)
    if res is None:
        return ""
    now = time.time()
    if res.state == BRIDGED:
        if not transition(
            r, reservation_id, (BRIDGED,), CONNECTED, None, now=now, outcome="connected"
        ):
            return ""
        _leg_winding_down(r, res)
        _start_wrapup(r, settings, res, now)
        return "connected"
    if res.state != CALLER_DIALING:
        return ""
    if dial_status == "counselor-hung-up":
        if not transition(
            r, reservation_id, (CALLER_DIALING,), MISSED, None, outcome="counselor hung up"
        ):
            return ""
        lead = get_lead(r, res.lead_id)
        if lead is not None:
            _back_in_line(r, res, lead, "counselor hung up")
        _leg_winding_down(r, res)
        _release_counselor(r, res)
        return "requeued"
    outcome = (
        "machine"
        if res.answered_by in MACHINE or dial_status == "completed"
        else (dial_status or "failed")
    )
    if not transition(
        r, reservation_id, (CALLER_DIALING,), CALLER_UNREACHED, None, outcome=outcome
    ):
        return ""
    _leg_winding_down(r, res)
    _release_counselor(r, res, missed_offers="0")
    lead = get_lead(r, res.lead_id)
    if lead is not None:
        schedule_retry(r, settings, lead, res, outcome, now)
    return outcome


def _start_wrapup(r: Redis, settings: Settings, res: Reservation, now: float) -> None:
    counselor = get_counselor(r, res.counselor_id)
    if counselor is None:
        return
    set_state(
        r,
        counselor,
        (CounselorStatus.ON_CALL.value, CounselorStatus.RESERVED.value),
        CounselorStatus.WRAP_UP.value,
        now=now,
        holding=res.id,
        wrapup_until=now + settings.wrapup_seconds,
        reservation="",
    )
    if res.bridged_at:
        pipe = r.pipeline()
        pipe.lpush(keys.HANDLE_TIMES, int(now - res.bridged_at) + settings.wrapup_seconds)
        pipe.ltrim(keys.HANDLE_TIMES, 0, HANDLE_TIMES_KEPT - 1)
        pipe.execute()


def schedule_retry(
    r: Redis, settings: Settings, lead: Lead, res: Reservation, outcome: str, now: float
) -> float | None:
    """Count the attempt; schedule the next (backoff, calling hours) or, after the last,
    mark the lead unreachable. Returns when the lead is due, or None if unreachable."""
    attempt = lead.attempts + 1
    _record_attempt(r, lead.id, attempt, res, outcome, now)
    retries = settings.retry_delays
    if attempt > len(retries):
        if _lead_state(
            r,
            lead,
            (LeadStatus.RESERVED.value,),
            LeadStatus.UNREACHABLE.value,
            "none",
            holding=res.id,
            attempts=str(attempt),
            status_reason=f"not reached after {attempt} attempts",
        ):
            record_event(r, lead.id, "unreachable", attempts=attempt)
            stats.incr(r, settings.report_time_zone, stats.UNREACHABLE)
        return None
    lead.attempts = attempt
    due = next_call_time(lead, settings.calling_hours, now + retries[attempt - 1])
    if _lead_state(
        r,
        lead,
        (LeadStatus.RESERVED.value,),
        LeadStatus.RETRY_WAIT.value,
        "due",
        due,
        holding=res.id,
        attempts=str(attempt),
        status_reason=outcome,
    ):
        record_event(r, lead.id, "retry_scheduled", attempt=attempt, outcome=outcome, due=due)
    return due


def _record_attempt(
    r: Redis, lead_id: str, attempt: int, res: Reservation, outcome: str, now: float
) -> None:
    entry = {
        "attempt": attempt,
        "at": now,
        "reservation": res.id,
        "counselor": res.counselor_id,
        "outcome": outcome,
    }
    r.rpush(keys.LEAD_ATTEMPTS.format(lead_id), json.dumps(entry))


def release(r: Redis, settings: Settings, reservation_id: str, why: str) -> bool:
    """End a reservation before the caller is dialed, for a reason that is nobody's miss
    (its lead was cancelled, or its lease expired): a lead still reserved by it returns to
    its place and the counselor is free again."""
    res = get_reservation(r, reservation_id)
    if res is None:
        r.zrem(keys.LEASES, reservation_id)
        return False
    if not transition(r, reservation_id, ACTIVE[:-1], RECLAIMED, None, outcome=why):
        if not res.active:
            r.zrem(keys.LEASES, reservation_id)
        return False
    lead = get_lead(r, res.lead_id)
    if lead is not None:
        _back_in_line(r, res, lead, why)  # only if it is still reserved by this offer
    _leg_winding_down(r, res)
    _release_counselor(r, res)
    log.info("reservation %s released: %s", res.id, why)
    return True


def reclaim(r: Redis, settings: Settings, reservation_id: str) -> bool:
    """An expired lease: nothing was heard in time (a worker died, a webhook was lost).
    The callback returns to its place and the counselor is free; a bridged call's lease is
    long, so its expiry only ends it as connected."""
    res = get_reservation(r, reservation_id)
    if res is None:
        r.zrem(keys.LEASES, reservation_id)
        return False
    if res.state == BRIDGED:
        return call_ended(r, settings, reservation_id) == "connected"
    return release(r, settings, reservation_id, "lease expired")


def expired_leases(r: Redis, now: float) -> list[str]:
    """Reservations whose lease has run out."""
    return list(r.zrangebyscore(keys.LEASES, "-inf", now, start=0, num=500))
