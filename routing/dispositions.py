"""How a callback ended, recorded by the counselor after the call.

"Asked not to be called" puts the number on the do-not-call list (kept by
``routing.phones.number_digest``, never the number itself); "call back at" sends the lead
back in line at the chosen time (RQ ``enqueue_at`` with the lead id, and the due list the
sweep also reads); submitting ends the counselor's wrap-up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from redis import Redis

from routing import keys, stats
from routing.counselors import end_wrapup
from routing.errors import DispositionError
from routing.leads import Lead, LeadStatus, get_lead, record_event, set_status
from routing.phones import number_digest
from settings import Settings


class Disposition(StrEnum):
    """The outcomes a counselor can choose."""

    ADMITTED = "admitted_to_intake"
    REFERRED = "referred"
    INFORMATION = "information_only"
    WRONG_NUMBER = "wrong_number"
    DO_NOT_CALL = "do_not_call"
    CALL_BACK = "call_back_at"


#: What each outcome is called on the console.
LABELS = {
    Disposition.ADMITTED: "Admitted to intake",
    Disposition.REFERRED: "Referred elsewhere",
    Disposition.INFORMATION: "Information only",
    Disposition.WRONG_NUMBER: "Wrong number",
    Disposition.DO_NOT_CALL: "Asked not to be called",
    Disposition.CALL_BACK: "Call back at a chosen time",
}
#: Longest note kept (a short note, not a case file).
MAX_NOTE = 500
#: Furthest ahead a call back may be scheduled.
MAX_CALL_BACK_SECONDS = 30 * 86400
#: Soonest a call back may be scheduled (the counselor is still wrapping up).
MIN_CALL_BACK_SECONDS = 5 * 60


#: Daily counters named "disposition:<value>" count the outcomes counselors record.
DISPOSITION_PREFIX = "disposition:"


def counter_name(value: str) -> str:
    """The daily counter (routing.stats) of one disposition value."""
    return DISPOSITION_PREFIX + value


@dataclass(frozen=True)
class Recorded:
    """What was recorded."""

    lead_id: str
    value: str
    callback_at: float | None


def do_not_call_digest(settings: Settings, e164: str) -> str:
    """The do-not-call list's key for a number (keyed hash, as every number lookup)."""
    return number_digest(e164, settings.secret_key)


def is_do_not_call(r: Redis, settings: Settings, e164: str) -> bool:
    """Whether this number asked not to be called (the IVR may check it)."""
    return bool(r.sismember(keys.DO_NOT_CALL, do_not_call_digest(settings, e164)))


def record(
    r: Redis,
    settings: Settings,
    lead_id: str,
    counselor_id: str,
    value: str,
    note: str = "",
    callback_at: float | None = None,
    by: str = "",
    now: float | None = None,
) -> Recorded:
    """Record a call's outcome once, apply it, and end the counselor's wrap-up."""
    now = time.time() if now is None else now
    try:
        disposition = Disposition(value)
    except ValueError:
        raise DispositionError("Choose how the call ended.") from None
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DispositionError(f"Keep the note under {MAX_NOTE} characters.")
    if disposition is Disposition.CALL_BACK:
        if callback_at is None:
            raise DispositionError("Choose when to call back.")
        if callback_at < now + MIN_CALL_BACK_SECONDS:
            raise DispositionError("Choose a call-back time at least 5 minutes from now.")
        if callback_at > now + MAX_CALL_BACK_SECONDS:
            raise DispositionError("Choose a call-back time within 30 days.")
    else:
        callback_at = None
    lead = get_lead(r, lead_id)
    if lead is None:
        raise DispositionError("There is no such callback.")
    if disposition is Disposition.CALL_BACK and lead.status != LeadStatus.CONNECTED.value:
        raise DispositionError("Only a call that connected can be scheduled for a call back.")
    key = keys.LEAD_DISPOSITION.format(lead_id)
    # HSETNX claims the disposition: a double submit (two tabs) records it once.
    if not r.hsetnx(key, "value", disposition.value):
        raise DispositionError("This call already has a disposition.")
    r.hset(
        key,
        mapping={
            "note": note,
            "counselor_id": counselor_id,
            "by": by,
            "at": repr(now),
            "callback_at": "" if callback_at is None else repr(callback_at),
        },
    )
    record_event(r, lead_id, "disposition", value=disposition.value, counselor=counselor_id)
    stats.incr(r, settings.report_time_zone, counter_name(disposition.value), at=now)
    if disposition is Disposition.DO_NOT_CALL and lead.phone:
        r.sadd(keys.DO_NOT_CALL, do_not_call_digest(settings, lead.phone))
    if disposition is Disposition.CALL_BACK and callback_at is not None:
        _schedule_call_back(r, lead, callback_at, now)
    end_wrapup(r, counselor_id, now=now)
    return Recorded(lead_id, disposition.value, callback_at)


def _schedule_call_back(r: Redis, lead: Lead, at: float, now: float) -> None:
    """The lead waits (deferred, on the due list) until ``at``, then rejoins the line."""
    connected = (LeadStatus.CONNECTED.value,)
    reason = "call back requested"
    if not set_status(
        r, lead, connected, LeadStatus.DEFERRED.value, "due", at, now=now, status_reason=reason
    ):
        raise DispositionError("This callback has already moved on; it was not rescheduled.")
    record_event(r, lead.id, "call_back_scheduled", due=at)


def get(r: Redis, lead_id: str) -> dict[str, str]:
    """A lead's recorded disposition (empty if none)."""
    return dict(r.hgetall(keys.LEAD_DISPOSITION.format(lead_id)))
