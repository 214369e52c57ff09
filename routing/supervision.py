"""What a supervisor sees and does: the live floor (queue, counselors, longest wait, the
estimate for a new caller) and the actions the routing modules do not offer themselves
(move a callback to the front, remove one with a reason, force a counselor offline, edit a
counselor, find the call a counselor still has to disposition).

Built only on the public functions and keys of routing.counselors, routing.callbacks,
routing.queue and routing.leads; every change is a compare-and-set, so an action racing
with matching either happens whole or is refused with a reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError

from routing import account, keys, queue
from routing.counselors import (
    FREE,
    Counselor,
    CounselorStatus,
    PhoneInUse,
    clean_name,
    get_counselor,
    holder_of,
    list_counselors,
    make_offline,
    move_phone,
    set_state,
    validate,
)
from routing.errors import ActionRefused, CounselorError
from routing.leads import Lead, LeadStatus, get_lead, record_event, set_status
from routing.phones import InvalidNumber, mask, parse_number
from routing.reservation import ACTIVE, Reservation, ReservationState, get_reservation
from settings import Settings

#: Reservations looked back through to find a counselor's last call (a shift's worth).
RECENT_RESERVATIONS = 300
#: How long after a call a counselor may still disposition it.
DISPOSITION_WINDOW_SECONDS = 12 * 3600
#: Order of counselor states on the dashboard (busiest first).
STATE_ORDER = [
    CounselorStatus.ON_CALL.value,
    CounselorStatus.RESERVED.value,
    CounselorStatus.WRAP_UP.value,
    CounselorStatus.AVAILABLE.value,
    CounselorStatus.MISSED.value,
    CounselorStatus.OFFLINE.value,
]


#: Reasons a counselor may give for a break (a break is offline with one of these reasons;
#: offline with any other reason, such as "missed 3 offers in a row", is not a break).
BREAK_REASONS = ("Break", "Meal", "Training", "Meeting")


def shown_state(counselor: Counselor) -> str:
    """The state to show people: the counselor's status, or "break"."""
    if counselor.status == CounselorStatus.OFFLINE.value and counselor.status_reason in (
        BREAK_REASONS
    ):
        return "break"
    return counselor.status


# --- The live floor ---------------------------------------------------------------------


def time_in_state(counselor: Counselor, now: float) -> int:
    """Seconds since the counselor's last state change."""
    since = counselor.updated_at or counselor.idle_since or counselor.created_at
    return max(0, int(now - since))


def counselor_row(counselor: Counselor, now: float) -> dict[str, Any]:
    """A counselor for the dashboard: masked number, state, reason, time in state."""
    row = counselor.public(now)
    row.update(shown_state=shown_state(counselor), seconds_in_state=time_in_state(counselor, now))
    return row


def scheduled_leads(r: Redis, limit: int = 100) -> list[tuple[Lead, float]]:
    """Retry and deferred callbacks with when each is due, soonest first."""
    due = r.zrange(keys.DUE, 0, limit - 1, withscores=True)
    pipe = r.pipeline(transaction=False)
    for lead_id, _ in due:
        pipe.hgetall(keys.LEAD.format(lead_id))
    found = zip(due, pipe.execute(), strict=True)
    return [(Lead.from_redis(d), at) for (_, at), d in found if d]


#: Counselor statuses of people at work now: taking callbacks, on one, or wrapping one up.
WORKING = (
    CounselorStatus.AVAILABLE.value,
    CounselorStatus.MISSED.value,
    CounselorStatus.RESERVED.value,
    CounselorStatus.ON_CALL.value,
    CounselorStatus.WRAP_UP.value,
)


def calls_of(r: Redis, rows: list[dict[str, Any]], now: float) -> None:
    """Add to each dashboard row of a counselor holding a reservation the callback it is
    on ("call": lead id, masked number, state, seconds on it), in one round trip each way."""
    holding = [row for row in rows if row.get("reservation")]
    if not holding:
        return
    pipe = r.pipeline(transaction=False)
    for row in holding:
        pipe.hmget(
            keys.RESERVATION.format(row["reservation"]),
            ["lead_id", "state", "created_at", "bridged_at"],
        )
    reservations = pipe.execute()
    pipe = r.pipeline(transaction=False)
    for lead_id, *_ in reservations:
        pipe.hget(keys.LEAD.format(lead_id or "-"), "phone")
    phones = pipe.execute()
    for row, (lead_id, state, created, bridged), phone in zip(
        holding, reservations, phones, strict=True
    ):
        if not lead_id or state not in ACTIVE:
            continue
        on_the_call = state == ReservationState.BRIDGED
        since = float(bridged or 0) if on_the_call else float(created or 0)
        row["call"] = {
            "lead_id": lead_id,
            "phone": mask(phone or ""),
            "state": state,
            "on_the_call": on_the_call,
            "since_seconds": max(0, int(now - since)) if since else 0,
        }


def snapshot(r: Redis, settings: Settings, now: float | None = None) -> dict[str, Any]:
    """Everything the live dashboard shows (routing.queue.snapshot plus time in state,
    the estimate for a new caller and the scheduled callbacks), numbers masked."""
    now = time.time() if now is None else now
    base = queue.snapshot(r, settings, now=now)
    counselors = sorted(
        (counselor_row(c, now) for c in list_counselors(r)),
        key=lambda c: (
            STATE_ORDER.index(c["status"]) if c["status"] in STATE_ORDER else 99,
            -c["seconds_in_state"],
        ),
    )
    calls_of(r, counselors, now)
    by_state: dict[str, int] = {}
    for c in counselors:
        by_state[c["shown_state"]] = by_state.get(c["shown_state"], 0) + 1
    waiting_now = base["stats"]["waiting"]
    # Nobody available or on a call: no estimate can be honest, so none is given.
    working = sum(1 for c in counselors if c["status"] in WORKING)
    return {
        "now": now,
        "waiting": base["waiting"],
        "waiting_count": waiting_now,
        "longest_wait_seconds": base["stats"]["longest_wait_seconds"],
        "estimated_wait_seconds": (
            queue.estimate_wait_seconds(r, waiting_now + 1) if working else None
        ),
        "counselors_working": working,
        "in_progress": base["stats"]["reserved"],
        "scheduled": [
            {**lead.public(now), "due_at": at, "due_in_seconds": max(0, int(at - now))}
            for lead, at in scheduled_leads(r)
        ],
        "counselors": counselors,
        "counselors_by_state": by_state,
        "today": base["stats"]["today"],
        "account_trouble": _account_trouble(r, now),
    }


def _account_trouble(r: Redis, now: float) -> dict[str, Any] | None:
    """The dashboard's red banner: an account-level Twilio error of the past hour."""
    trouble = account.last_trouble(r)
    if trouble is None:
        return None
    return {
        "code": trouble.code,
        "message": trouble.message,
        "advice": trouble.advice,
        "at": trouble.at,
        "paused": trouble.paused(now),
    }


# --- Actions on callbacks ---------------------------------------------------------------


def move_to_front(r: Redis, lead_id: str, by: str) -> float:
    """Put a waiting callback first in line (ahead of every other); returns its new score.

    The score is changed with ZADD XX in one transaction watched on the queue, so a
    callback matching has just taken is not put back in line.
    """
    lead = get_lead(r, lead_id)
    if lead is None:
        raise ActionRefused("There is no such callback.")
    bucket = queue.bucket_key(lead.language, lead.insurance)

    def move(pipe: Pipeline) -> float:
        if pipe.zscore(keys.WAITING_ALL, lead_id) is None:
            raise ActionRefused("This callback is no longer waiting (a counselor may have it).")
        head = pipe.zrange(keys.WAITING_ALL, 0, 0, withscores=True)
        score = float(head[0][1]) - 1 if head else time.time()
        pipe.multi()
        pipe.zadd(keys.WAITING_ALL, {lead_id: score}, xx=True)
        pipe.zadd(bucket, {lead_id: score}, xx=True)
        return score

    try:
        score: float = r.transaction(move, keys.WAITING_ALL, bucket, value_from_callable=True)
    except WatchError:  # pragma: no cover - transaction() retries; kept for clarity
        raise ActionRefused("The queue changed; try again.") from None
    record_event(r, lead_id, "moved_to_front", by=by)
    return score


def remove_callback(r: Redis, lead_id: str, reason: str, by: str) -> Lead:
    """Take a waiting, retrying or deferred callback out for good, with the reason."""
    reason = " ".join(reason.split())[:200]
    if not reason:
        raise ActionRefused("Give a reason for removing the callback.")
    lead = get_lead(r, lead_id)
    if lead is None:
        raise ActionRefused("There is no such callback.")
    if lead.status == LeadStatus.RESERVED.value:
        raise ActionRefused("A counselor is calling this person now; it cannot be removed.")
    allowed = (
        LeadStatus.WAITING.value,
        LeadStatus.RETRY_WAIT.value,
        LeadStatus.DEFERRED.value,
    )
    # One compare-and-set: the status changes and the lead leaves its bucket, the queue
    # and the due list in one step.
    if not set_status(r, lead, allowed, LeadStatus.REMOVED.value, "none", status_reason=reason):
        raise ActionRefused("This callback is no longer waiting.")
    record_event(r, lead_id, "removed", by=by, reason=reason)
    lead.status, lead.status_reason = LeadStatus.REMOVED.value, reason
    return lead


# --- Actions on counselors --------------------------------------------------------------


def force_offline(r: Redis, counselor_id: str, by: str) -> Counselor:
    """Take a counselor out of rotation now (refused while they are on a call)."""
    counselor = get_counselor(r, counselor_id)
    if counselor is None:
        raise ActionRefused("There is no such counselor.")
    if counselor.status == CounselorStatus.OFFLINE.value:
        return counselor
    if not make_offline(r, counselor, reason=f"put offline by {by}"):
        raise ActionRefused(
            f"{counselor.name} is on a call or being dialed; try again when the call ends."
        )
    counselor.status = CounselorStatus.OFFLINE.value
    counselor.status_reason = f"put offline by {by}"
    return counselor


def update_counselor(
    r: Redis,
    counselor_id: str,
    *,
    name: str,
    phone: str,
    languages: list[str],
    insurance: list[str],
) -> Counselor:
    """Change a counselor's name, number and skills, keeping the idle sets consistent."""
    counselor = get_counselor(r, counselor_id)
    if counselor is None:
        raise ActionRefused("There is no such counselor.")
    try:
        name = clean_name(name)
    except CounselorError as exc:
        raise ActionRefused(str(exc)) from None
    try:
        e164 = parse_number(phone)
    except InvalidNumber:
        raise ActionRefused("phone: not a valid phone number") from None
    holder = holder_of(r, e164, other_than=counselor_id)
    if holder is not None:
        raise ActionRefused(str(PhoneInUse(holder)))
    try:
        validate(languages, insurance)
    except ValueError as exc:
        raise ActionRefused(str(exc)) from None
    fields = {
        "name": name,
        "phone": e164,
        "languages": ",".join(dict.fromkeys(languages)),
        "insurance": ",".join(dict.fromkeys(insurance)),
    }
    idle = counselor.status in FREE
    if idle:
        # Re-enter the idle sets of the new skills at the same idle-since, atomically with
        # the new fields (set_state leaves every other idle set).
        counselor.languages = tuple(dict.fromkeys(languages))
        counselor.insurance = tuple(dict.fromkeys(insurance))
        idle = set_state(r, counselor, FREE, counselor.status, now=counselor.idle_since, **fields)
    if not idle:
        # Not idle (or just taken by matching): skills apply from the next time they are free.
        r.hset(keys.COUNSELOR.format(counselor_id), mapping=fields)
    move_phone(r, counselor_id, counselor.phone, e164)
    return get_counselor(r, counselor_id)  # type: ignore[return-value]


# --- The counselor's current and last call ----------------------------------------------


@dataclass
class CurrentCall:
    """The callback a counselor is being offered or is on, or the last one to disposition."""

    lead: Lead
    reservation: Reservation
    live: bool  # being dialed or on the call (False: finished, awaiting a disposition)


#: Latest reservations remembered per counselor for their dispositions.
REMEMBERED_CALLS = 5


def _remember(r: Redis, counselor_id: str, reservation_id: str) -> None:
    key = keys.AWAITING_DISPOSITION.format(counselor_id)
    if r.lindex(key, 0) != reservation_id:
        pipe = r.pipeline(transaction=True)
        pipe.lrem(key, 0, reservation_id)
        pipe.lpush(key, reservation_id)
        pipe.ltrim(key, 0, REMEMBERED_CALLS - 1)
        pipe.expire(key, DISPOSITION_WINDOW_SECONDS)
        pipe.execute()


def current_call(r: Redis, counselor: Counselor) -> CurrentCall | None:
    """The reservation the counselor holds now, with its lead (remembered, so the call can
    be found again for its disposition once it is over)."""
    if not counselor.reservation:
        return None
    res = get_reservation(r, counselor.reservation)
    if res is None or not res.active:
        return None
    lead = get_lead(r, res.lead_id)
    if lead is None:
        return None
    _remember(r, counselor.id, res.id)
    return CurrentCall(lead, res, live=True)


def call_to_disposition(
    r: Redis, counselor: Counselor, now: float | None = None
) -> CurrentCall | None:
    """The counselor's most recent bridged call that has no disposition yet.

    Cheap in the usual case (the console saw the call while it was live and remembered
    it); a counselor in wrap-up whose call was not seen (console closed) is found by
    looking back through the most recent reservations.
    """
    now = time.time() if now is None else now
    remembered = r.lrange(keys.AWAITING_DISPOSITION.format(counselor.id), 0, -1)
    if not remembered and counselor.status == CounselorStatus.WRAP_UP.value:
        found_id = _last_reservation_of(r, counselor.id)
        if found_id:
            _remember(r, counselor.id, found_id)
            remembered = [found_id]
    for rid in remembered:
        res = get_reservation(r, rid)
        if res is None or res.active or res.state != ReservationState.CONNECTED:
            continue  # on it now, or never bridged: nothing to disposition
        found = _awaiting(r, res, now)
        if found is not None:
            return found
    return None


def _last_reservation_of(r: Redis, counselor_id: str) -> str | None:
    """The counselor's newest reservation among the most recent ones made."""
    last = int(r.get(keys.RESERVATION_SEQ) or 0)
    ids = [f"R{n:06d}" for n in range(last, max(0, last - RECENT_RESERVATIONS), -1)]
    pipe = r.pipeline(transaction=False)
    for rid in ids:
        pipe.hget(keys.RESERVATION.format(rid), "counselor_id")
    for rid, cid in zip(ids, pipe.execute(), strict=True):
        if cid == counselor_id:
            return rid
    return None


def _awaiting(r: Redis, res: Reservation, now: float) -> CurrentCall | None:
    """The finished call of ``res`` if it still wants a disposition."""
    if now - res.created_at > DISPOSITION_WINDOW_SECONDS:
        return None
    if r.exists(keys.LEAD_DISPOSITION.format(res.lead_id)):
        return None
    lead = get_lead(r, res.lead_id)
    return CurrentCall(lead, res, live=False) if lead is not None else None
