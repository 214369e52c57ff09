"""RQ jobs. Each takes ids only and lets exceptions propagate to RQ (Retry, failed registry).

Matching itself runs inline wherever it is requested (:func:`request_match`): it is one
short Lua script, so the web request that queued a lead or freed a counselor pays well
under a millisecond and nothing waits behind a busy queue. What takes time (placing calls,
waiting for a retry or for calling hours, the end of a wrap-up) is an RQ job, and the
periodic sweep (:func:`sweep_now`) repairs anything a lost job or a dead process left.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from rq import Retry

from hotline.services import DEFAULT_QUEUE, DIAL_QUEUE, RESULT_TTL, Services
from routing import callbacks, counselors, keys
from routing.hours import next_call_time
from routing.leads import LeadStatus, get_lead
from routing.matching import match
from workers import pacing, twilio_rest
from workers.context import current_services

log = logging.getLogger(__name__)

#: RQ retries of a dial job after 429/5xx (seconds before each): Twilio asks for backoff.
DIAL_RETRY_INTERVALS = [2, 5, 15]
#: Seconds a failed job stays in RQ's failed registry for inspection (ids only).
FAILURE_TTL = 86400
#: Seconds a dial job may run (pacing sleeps plus one REST request).
DIAL_TIMEOUT = 60


# --- Requests from the web and the sweep ----------------------------------------------


def request_match(services: Services) -> list[str]:
    """Match now (inline, atomic) and queue a dial job for every new reservation."""
    made = match(services.redis, services.settings)
    for rid in made:
        enqueue_dial(services, rid)
    return made


def enqueue_dial(services: Services, reservation_id: str) -> None:
    """Queue the counselor call of a reservation (one job id per reservation)."""
    services.queue(DIAL_QUEUE).enqueue_call(
        dial_counselor,
        args=[reservation_id],
        job_id=f"dial-{reservation_id}",
        timeout=DIAL_TIMEOUT,
        # A dial not started within the lease is pointless: the sweep reclaims it.
        ttl=services.settings.lease_seconds,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=Retry(max=len(DIAL_RETRY_INTERVALS), interval=DIAL_RETRY_INTERVALS),
    )


def schedule_requeue(services: Services, lead_id: str, due: float) -> None:
    """Bring a retry_wait or deferred lead back in line at ``due`` (RQ's scheduler); the
    sweep does the same from the due list if this job is lost."""
    at = datetime.fromtimestamp(due, UTC)
    services.queue(DEFAULT_QUEUE).enqueue_at(
        at,
        requeue_lead,
        lead_id,
        job_id=f"requeue-{lead_id}-{int(due)}",
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
    )


def schedule_wrapup_end(services: Services, counselor_id: str) -> None:
    """End a counselor's wrap-up after WRAPUP_SECONDS (the sweep is the safety net)."""
    services.queue(DEFAULT_QUEUE).enqueue_in(
        timedelta(seconds=services.settings.wrapup_seconds),
        end_wrapup,
        counselor_id,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
    )


def sweep_now(services: Services, now: float | None = None) -> dict[str, int]:
    """Periodic housekeeping, safe from every process at once: reclaim expired leases (the
    callback keeps its score), end wrap-ups, bring due leads back, then match."""
    r, settings = services.redis, services.settings
    now = time.time() if now is None else now
    done = {"reclaimed": 0, "wrapups_ended": 0, "requeued": 0, "matched": 0}
    for rid in callbacks.expired_leases(r, now):
        done["reclaimed"] += callbacks.reclaim(r, settings, rid)
    for cid in counselors.due_wrapups(r, now):
        done["wrapups_ended"] += counselors.end_wrapup(r, cid)
    for lead_id in callbacks.due_leads(r, now):
        status = callbacks.requeue_due(r, settings, lead_id, now)
        if status == "deferred":
            due = r.zscore(keys.DUE, lead_id)
            if due is not None:
                schedule_requeue(services, lead_id, due)
        done["requeued"] += status == "waiting"
    done["matched"] = len(request_match(services))
    return done


# --- The jobs (ids in) ------------------------------------------------------------------


def dial_counselor(reservation_id: str) -> str:
    """RQ job: place the counselor call of a reservation."""
    return place_counselor_call(current_services(), reservation_id)


def requeue_lead(lead_id: str) -> str:
    """RQ job: a retry's or deferral's time has come."""
    services = current_services()
    status = callbacks.requeue_due(services.redis, services.settings, lead_id)
    if status == "waiting":
        request_match(services)
    elif status == "deferred":
        due = services.redis.zscore(keys.DUE, lead_id)
        if due is not None:
            schedule_requeue(services, lead_id, due)
    return status


def end_wrapup(counselor_id: str) -> bool:
    """RQ job: a counselor's wrap-up is over; match them."""
    services = current_services()
    due = services.redis.zscore(keys.WRAPUPS, counselor_id)
    if due is not None and due > time.time():
        return False  # a later wrap-up began; its own job (or the sweep) ends it
    ended = counselors.end_wrapup(services.redis, counselor_id)
    if ended:
        request_match(services)
    return ended


# --- What the jobs do (services in, so tests and the sweep can call them directly) -------


def place_counselor_call(services: Services, reservation_id: str) -> str:
    """Dial the counselor of an offered reservation, exactly once. Returns what happened."""
    r, settings = services.redis, services.settings
    res = callbacks.get_reservation(r, reservation_id)
    if res is None or res.state != callbacks.OFFERED:
        return "stale"
    lead = get_lead(r, res.lead_id)
    counselor = counselors.get_counselor(r, res.counselor_id)
    if lead is None or counselor is None or lead.status != LeadStatus.RESERVED:
        # The caller cancelled (or a supervisor removed them) since the match.
        callbacks.release(r, settings, reservation_id, "lead no longer waiting")
        request_match(services)
        return "stale"
    now = time.time()
    if callbacks.caller_number(lead) is None:
        callbacks.lead_failed(r, reservation_id, "invalid phone number")
        request_match(services)
        return "lead-failed"
    due = next_call_time(lead, settings.calling_hours, now)
    if due > now:
        if callbacks.defer(r, settings, reservation_id, due):
            schedule_requeue(services, lead.id, due)
            request_match(services)
        return "deferred"
    guard = keys.DIAL_GUARD.format(reservation_id, "counselor")
    if not r.set(guard, "1", nx=True, ex=settings.lease_seconds * 2):
        return "already-dialed"
    pacing.wait_for_slot(r, settings.calls_per_second)
    try:
        call_sid = twilio_rest.call_counselor(services, reservation_id, counselor.phone)
    except Exception as exc:
        if twilio_rest.is_transient(exc):
            # Nothing was dialed: free the guard so RQ's retry may dial, and let RQ see it.
            r.delete(guard)
            raise
        if not twilio_rest.is_permanent(exc):
            raise  # unknown whether a call was placed: keep the guard; the lease decides
        reason = twilio_rest.describe(exc)
        callbacks.counselor_unreachable(r, reservation_id, reason)
        request_match(services)
        return "counselor-unreachable"
    # Recorded before anything else can fail, so no retry or sweep ever dials again.
    callbacks.call_placed(r, settings, reservation_id, call_sid)
    log.info("reservation %s: ringing counselor %s", reservation_id, counselor.id)
    return "dialed"
