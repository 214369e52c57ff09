"""How a callback ends: one table of outcomes, and one atomic move that applies it.

A reservation ends in one of the :class:`Ending` outcomes. :data:`MOVES` says, once for
each, what becomes of the reservation, its lead and its counselor; :func:`end` applies it in
one Lua script (routing/lua/end_reservation.lua), so a process dying half-way can never
leave the three records disagreeing, and a late or repeated event changes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

from redis import Redis

from routing import keys, metrics, stats
from routing.counselors import Counselor, CounselorStatus, all_idle_keys
from routing.hours import next_call_time
from routing.leads import Lead, LeadStatus, history_entry
from routing.reservation import Reservation, get_reservation
from routing.reservation import ReservationState as S
from routing.scripts import run_script
from settings import Settings

log = logging.getLogger(__name__)

#: Seconds a counselor's phone counts as still on our call after the callback is over for
#: us (they hear a last message and hang up); their leg's final status ends it sooner.
LEG_GRACE_SECONDS = 30
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


def end(
    r: Redis,
    settings: Settings,
    reservation_id: str,
    ending: Ending,
    allowed: tuple[str, ...],
    why: str,
    *,
    until: float = 0.0,
    hold_phone: float = 0.0,
    now: float | None = None,
) -> Ended | None:
    """End a reservation that is in one of ``allowed`` states with ``ending``; None if it
    was elsewhere (too late: another piece of news got there first). ``hold_phone``: count
    the counselor's phone busy for that many seconds (a call we never heard of may ring)."""
    now = time.time() if now is None else now
    res = get_reservation(r, reservation_id)
    if res is None or res.state not in allowed:
        return None
    pipe = r.pipeline(transaction=False)  # both records in one round trip
    pipe.hgetall(keys.LEAD.format(res.lead_id))
    pipe.hgetall(keys.COUNSELOR.format(res.counselor_id))
    lead_data, counselor_data = pipe.execute()
    lead = Lead.from_redis(lead_data) if lead_data else None
    counselor = Counselor.from_redis(counselor_data) if counselor_data else None
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
        keys.METRICS,
        keys.COUNSELOR_STATES,
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
        "hold" if hold_phone else move.leg,
        repr(now + (hold_phone or LEG_GRACE_SECONDS)),
        metrics.CALLBACKS_ENDED.format(ending.value),
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
