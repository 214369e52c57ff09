"""How a call leaves the IVR, in Redis: its lead queued (the caller confirmed a number, or
hung up with one), no number to call back, or a pending callback kept or cancelled; and the
pending link that finds a caller's callback by number.

A caller who confirms their number is queued by the IVR step's own script
(routing.ivr_sessions.step_session, given :func:`queueing`); every other way into the queue
from the IVR goes through :func:`complete` (``intake_complete.lua``, a compare-and-set on the
lead as read). Both write the same things (the Lua prelude's ``queue_lead``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis import Redis
from redis.exceptions import WatchError

from routing import dispositions, keys, queue, stats
from routing.counselors import FREE, OFF_DUTY
from routing.ivr_sessions import BUCKET_INDEX, Queueing
from routing.leads import Lead, LeadStatus, get_lead, history_entry, record_event
from routing.phones import mask, number_digest
from routing.scripts import flat_pairs, run_script
from settings import Settings

log = logging.getLogger(__name__)

#: Daily counter: calls that ended in the IVR with no number we could call back.
NO_CALLBACK_NUMBER = "no_callback_number"
#: Reason of a hang-up lead not queued because its number is on the do-not-call list.
DO_NOT_CALL = "do_not_call"
#: Lead statuses a caller may cancel from (a counselor is not dialing them right now).
CANCELLABLE = frozenset(
    s.value for s in (LeadStatus.WAITING, LeadStatus.RETRY_WAIT, LeadStatus.DEFERRED)
)


def pending_field(settings: Settings, phone: str) -> str:
    """A callback number's field in keys.PENDING_LINKS (its keyed digest). A link is
    checked against its lead on every use, so a stale one is harmless; it is deleted when
    the caller cancels or the lead is purged (routing.retention)."""
    return number_digest(phone, settings.secret_key)


def queueing(settings: Settings) -> Queueing:
    """What the IVR step's script needs to queue a lead whose caller confirms their number
    (as intake_complete.lua, for a caller who hung up, is given by _queue_if_unchanged)."""
    now = time.time()
    written = {
        "status": LeadStatus.WAITING.value,
        "ivr_abandoned": "0",
        "consent_at": repr(now),  # they confirmed the number: consent (module docstring)
        "updated_at": repr(now),
        # queued_at starts the clock of the insurance-specialist preference (as add_waiting).
        "queued_at": repr(now),
    }
    return Queueing(
        stats.day_key(settings.report_time_zone, now),
        {
            "buckets": BUCKET_INDEX,
            "urgent_head_start": settings.urgent_head_start,
            "self_head_start": settings.self_head_start,
            "counters_ttl": stats.RETENTION_SECONDS,
            "counters": stats.LEADS_CREATED,
            "entry": history_entry("waiting", ivr_abandoned=False),
            "lifted": history_entry("do_not_call_lifted"),
            "fields": flat_pairs(written),
            "free": " ".join(FREE),
            "off": " ".join(OFF_DUTY),
        },
    )


def complete(
    r: Redis,
    settings: Settings,
    lead_id: str,
    *,
    abandoned: bool = False,
    read: dict[str, str] | None = None,
) -> tuple[Lead | None, bool, int | None]:
    """Queue an intake lead (status waiting): (lead, True, its place in line) only for the
    call that did it, so a repeated request or a racing status callback never queues it
    twice; ``read`` is the lead hash if the caller has just read it (one round trip fewer)."""
    key = keys.LEAD.format(lead_id)
    data: dict[str, Any] = r.hgetall(key) if read is None else read
    while True:
        if not data:
            return None, False, None
        lead = Lead.from_redis(data)
        if abandoned and lead.phone and dispositions.is_do_not_call(r, settings, lead.phone):
            # They asked not to be called and did not give consent again on this call.
            fail_no_number(r, settings, lead_id, abandoned=True, reason=DO_NOT_CALL)
            return get_lead(r, lead_id), False, None
        if lead.status != LeadStatus.INTAKE or not lead.phone:
            return _requeue_if_lost(r, settings, lead), False, None
        place = _queue_if_unchanged(r, settings, lead, data, abandoned=abandoned)
        if place:
            break
        data = r.hgetall(key)  # changed since it was read: decide again on what it holds now
    log_queued(lead, abandoned=abandoned)
    return lead, True, place


def log_queued(lead: Lead, *, abandoned: bool) -> None:
    log.info(
        "lead %s waiting: %s, %s, %s, insurance %s, callback %s%s",
        lead.id,
        lead.language,
        lead.situation,
        "urgent" if lead.urgent else "not urgent",
        lead.insurance,
        mask(lead.phone),
        " (hung up in the IVR)" if abandoned else "",
    )


def _queue_if_unchanged(
    r: Redis, settings: Settings, lead: Lead, read: dict[str, str], *, abandoned: bool
) -> int:
    """Queue ``lead`` (status waiting, in line, pending link, history, counters) in one
    atomic step (routing/lua/intake_complete.lua), unless its hash no longer holds ``read``.
    Updates ``lead`` to what was written; its place in line when queued, else 0."""
    now = time.time()
    lead.status = LeadStatus.WAITING.value
    lead.ivr_abandoned = abandoned
    lead.consent_at = 0.0 if abandoned else now  # see the module docstring
    lead.updated_at = now
    # queued_at starts the clock of the insurance-specialist preference (as add_waiting).
    written = {**lead.to_redis(), "queued_at": repr(now), "updated_at": repr(now)}
    counters = [stats.LEADS_CREATED] + ([stats.IVR_ABANDONED] if abandoned else [])
    score = lead.queue_score(settings.urgent_head_start, settings.self_head_start)
    keys_ = [
        keys.LEAD.format(lead.id),
        queue.bucket_key(lead.language, lead.insurance),
        keys.WAITING_ALL,
        keys.PENDING_LINKS,
        keys.LEAD_EVENTS.format(lead.id),
        keys.DO_NOT_CALL,
        stats.day_key(settings.report_time_zone, now),
        keys.INTAKE,
    ]
    args = [
        repr(score),
        lead.id,
        pending_field(settings, lead.phone),
        stats.RETENTION_SECONDS,
        " ".join(counters),
        # A hang-up gave no consent, so it never lifts a do-not-call entry.
        "" if abandoned else dispositions.do_not_call_digest(settings, lead.phone),
        history_entry("waiting", ivr_abandoned=abandoned),
        history_entry("do_not_call_lifted"),
        len(read),
        *flat_pairs(read),
        *flat_pairs(written),
    ]
    if abandoned or not settings.redis_sentinels:
        return int(run_script(r, "intake_complete", keys_, args))
    # The caller hears their place next: the lead must survive a failover first, so WAIT
    # for a replica on the connection that wrote it (one pipeline, one connection). Other
    # writes need no WAIT: a hang-up's lead was promised nothing, and what is in flight
    # (IVR sessions, reservations, timers) is repaired by the sweep and Twilio reconciliation.
    with r.pipeline(transaction=False) as pipe:
        run_script(pipe, "intake_complete", keys_, args)
        pipe.wait(1, settings.redis_wait_ms)
        place, replicas = pipe.execute()
    if int(place) and not replicas:
        log.warning(
            "lead %s queued but on no replica after %s ms; the caller is told anyway",
            lead.id,
            settings.redis_wait_ms,
        )
    return int(place)


def _requeue_if_lost(r: Redis, settings: Settings, lead: Lead) -> Lead:
    """A waiting lead missing from the queue (a crash between the status change and
    add_waiting) goes back in at its fixed score; matching takes it out only by changing
    its status in the same step, so this never re-adds a lead that is being served."""
    if lead.status == LeadStatus.WAITING and queue.position(r, lead.id) is None:
        log.warning("lead %s was waiting but not in line; re-queued", lead.id)
        queue.add_waiting(r, settings, lead)
    return lead


def fail_no_number(
    r: Redis,
    settings: Settings,
    lead_id: str,
    *,
    abandoned: bool = False,
    reason: str | None = None,
) -> None:
    """Record that the IVR ended with no number we may call back (nothing is queued)."""
    reason = reason or NO_CALLBACK_NUMBER
    key = keys.LEAD.format(lead_id)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                if pipe.hget(key, "status") != LeadStatus.INTAKE.value:
                    return
                pipe.multi()
                pipe.hset(
                    key,
                    mapping={
                        "status": LeadStatus.FAILED.value,
                        "status_reason": reason,
                        "ivr_abandoned": "1" if abandoned else "0",
                        "updated_at": str(time.time()),
                    },
                )
                pipe.execute()
                break
            except WatchError:
                continue
    record_event(r, lead_id, "failed", reason=reason, ivr_abandoned=abandoned)
    stats.incr(r, settings.report_time_zone, reason)
    log.info("lead %s not queued: %s (%s)", lead_id, reason, "hung up" if abandoned else "IVR")


def keep(r: Redis, lead_id: str) -> None:
    """A caller with a pending callback chose to keep it (their place does not change)."""
    record_event(r, lead_id, "caller_kept")


def cancel(r: Redis, settings: Settings, lead_id: str) -> bool:
    """Cancel a pending callback at the caller's request (True, also when it already is);
    False if a counselor is already being connected to them or it has ended otherwise."""
    key = keys.LEAD.format(lead_id)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                data: dict[str, Any] = pipe.hgetall(key)
                if data.get("status") not in CANCELLABLE:
                    pipe.unwatch()
                    return data.get("status") == LeadStatus.CANCELLED.value
                lead = Lead.from_redis(data)
                pipe.multi()
                pipe.hset(
                    key,
                    mapping={
                        "status": LeadStatus.CANCELLED.value,
                        "status_reason": "caller_cancelled",
                        "updated_at": str(time.time()),
                    },
                )
                # Out of line in the same transaction: never cancelled yet still waiting.
                queue.leave_line(pipe, lead)
                pipe.execute()
                break
            except WatchError:
                continue
    r.hdel(keys.PENDING_LINKS, pending_field(settings, lead.phone))
    record_event(r, lead_id, "cancelled", reason="caller_cancelled")
    log.info("lead %s cancelled by the caller", lead_id)
    return True
