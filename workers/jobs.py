"""RQ jobs. Each takes ids only and lets exceptions propagate to RQ (Retry, failed registry).

Matching itself runs inline wherever it is requested (:func:`request_match`): it is one
short Lua script, so the web request that queued a lead or freed a counselor pays well
under a millisecond and nothing waits behind a busy queue. What takes time (placing calls,
waiting for a retry or for calling hours, the end of a wrap-up) is an RQ job, and the
periodic sweep (:func:`sweep_now`) repairs anything a lost job, a lost webhook or a dead
process left, asking Twilio's REST API where a callback it heard nothing of really is.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from rq import Retry

from routing import account, callbacks, counselors, due, keys, metrics, retention
from routing.hours import next_call_time
from routing.leads import LeadStatus, get_lead
from routing.matching import match
from routing.reservation import ReservationState, expired_leases, get_reservation
from routing.twilio_errors import Blame
from workers import pacing, reconcile, twilio_rest
from workers.context import current_services
from workers.services import DEFAULT_QUEUE, DIAL_QUEUE, RESULT_TTL, Services

log = logging.getLogger(__name__)


class Dialed(StrEnum):
    """What a dial job did."""

    DIALED = "dialed"  # the counselor's phone is ringing
    STALE = "stale"  # the offer was over (or its lead gone) before the job ran
    ALREADY_DIALED = "already-dialed"  # a run before this one took the guard
    DEFERRED = "deferred"  # outside the caller's calling hours
    PAUSED = "paused"  # an account-level error: dialing is paused
    LEAD_FAILED = "lead-failed"  # the caller's number cannot be called
    COUNSELOR_UNREACHABLE = "counselor-unreachable"  # the counselor's number cannot be


#: RQ retries of a dial job after 429/5xx (seconds before each): Twilio asks for backoff.
DIAL_RETRY_INTERVALS = [2, 5, 15]
#: Seconds a failed job stays in RQ's failed registry for inspection (ids only).
FAILURE_TTL = 86400
#: Seconds a dial job may run (pacing sleeps plus one REST request).
DIAL_TIMEOUT = 60


# --- Requests from the web and the sweep ----------------------------------------------


def request_match(services: Services) -> list[str]:
    """Match now (inline, atomic) and queue a dial job for every new reservation; nothing
    while dialing is paused for an account-level error."""
    made = match(services.redis, services.settings)  # none while dialing is paused
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


def schedule_requeue(services: Services, lead_id: str, at: float) -> None:
    """Bring a retry_wait or deferred lead back in line at ``at`` (RQ's scheduler); the
    sweep does the same from the due list if this job is lost."""
    services.queue(DEFAULT_QUEUE).enqueue_at(
        datetime.fromtimestamp(at, UTC),
        requeue_lead,
        lead_id,
        job_id=f"requeue-{lead_id}-{int(at)}",
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


def follow_up(services: Services, ended: callbacks.Ended | None) -> None:
    """After a callback ended: its timers (the lead's retry or deferral, the counselor's
    wrap-up), then match whoever is free now."""
    if ended is None:
        return
    if ended.due is not None:
        schedule_requeue(services, ended.lead_id, ended.due)
    if ended.wrap_up:
        schedule_wrapup_end(services, ended.counselor_id)
    request_match(services)


def sweep_now(services: Services, now: float | None = None) -> dict[str, int]:
    """Periodic housekeeping, safe from every process at once: settle reservations whose
    lease ran out (asking Twilio where their calls are), queue callers whose IVR call ended
    unheard, rebuild the counselor indexes, end wrap-ups, bring due leads back, then match;
    last, erase lead details past RETENTION_DAYS (routing.retention)."""
    r, settings = services.redis, services.settings
    now = time.time() if now is None else now
    done = {"reclaimed": 0, "reconciled": 0, "wrapups_ended": 0, "requeued": 0, "matched": 0}
    budget = reconcile.LOOKUPS_PER_SWEEP
    for rid in expired_leases(r, now):
        res = get_reservation(r, rid)
        if res is None or not res.active:
            r.zrem(keys.LEASES, rid)
        elif not res.counselor_call_sid:
            # No CallSid: no call was placed, or its CallSid never reached us (a worker or
            # Redis died in between); reconciliation ends such a call before releasing.
            dialed = bool(r.exists(keys.DIAL_GUARD.format(rid, "counselor")))
            if dialed and budget > 0:
                budget -= 1
                ended = reconcile.release_unknown_call(services, res)
            else:
                ended = callbacks.release(r, settings, rid, "lease expired", call_unknown=dialed)
            done["reclaimed"] += ended is not None
            follow_up(services, ended)
        elif budget > 0:
            budget -= 1
            ended = reconcile.settle_reservation(services, res)
            done["reconciled"] += ended is not None
            follow_up(services, ended)
    if budget > 0:
        done["reconciled"] += reconcile.settle_intake(services, now, budget)
    counselors.index_counselors(r)  # the number and status indexes, from the records
    for cid in counselors.due_wrapups(r, now):
        done["wrapups_ended"] += counselors.end_wrapup(r, cid)
    for lead_id in due.due_leads(r, now):
        status = due.requeue_due(r, settings, lead_id, now)
        if status == LeadStatus.DEFERRED.value:
            at = r.zscore(keys.DUE, lead_id)
            if at is not None:
                schedule_requeue(services, lead_id, at)
        done["requeued"] += status == LeadStatus.WAITING.value
    done["matched"] = len(request_match(services))
    done["purged"] = retention.purge(r, settings, now).purged
    counts = {metrics.SWEEP_REPAIRS.format(kind): done[kind] for kind in metrics.REPAIRS}
    metrics.incr_many(r, {metrics.SWEEP_RUNS: 1, **counts})
    return done


# --- The jobs (ids in) ------------------------------------------------------------------


def dial_counselor(reservation_id: str) -> str:
    """RQ job: place the counselor call of a reservation."""
    return place_counselor_call(current_services(), reservation_id)


def requeue_lead(lead_id: str) -> str:
    """RQ job: a retry's or deferral's time has come."""
    services = current_services()
    status = due.requeue_due(services.redis, services.settings, lead_id)
    if status == LeadStatus.WAITING.value:
        request_match(services)
    elif status == LeadStatus.DEFERRED.value:
        at = services.redis.zscore(keys.DUE, lead_id)
        if at is not None:
            schedule_requeue(services, lead_id, at)
    return status


def end_wrapup(counselor_id: str) -> bool:
    """RQ job: a counselor's wrap-up is over; match them."""
    services = current_services()
    at = services.redis.zscore(keys.WRAPUPS, counselor_id)
    if at is not None and at > time.time():
        return False  # a later wrap-up began; its own job (or the sweep) ends it
    ended = counselors.end_wrapup(services.redis, counselor_id)
    if ended:
        request_match(services)
    return ended


# --- What the jobs do (services in, so tests and the sweep can call them directly) -------


def place_counselor_call(services: Services, reservation_id: str) -> Dialed:
    """Dial the counselor of an offered reservation, exactly once. Returns what happened."""
    r, settings = services.redis, services.settings
    res = get_reservation(r, reservation_id)
    if res is None or res.state != ReservationState.OFFERED:
        return Dialed.STALE
    lead = get_lead(r, res.lead_id)
    counselor = counselors.get_counselor(r, res.counselor_id)
    if lead is None or counselor is None or lead.status != LeadStatus.RESERVED:
        # The caller cancelled (or a supervisor removed them) since the match.
        follow_up(
            services, callbacks.release(r, settings, reservation_id, "lead no longer waiting")
        )
        return Dialed.STALE
    now = time.time()
    if callbacks.caller_number(lead) is None:
        follow_up(
            services, callbacks.lead_failed(r, settings, reservation_id, "invalid phone number")
        )
        return Dialed.LEAD_FAILED
    at = next_call_time(lead, settings.calling_hours, now)
    if at > now:
        follow_up(services, callbacks.defer(r, settings, reservation_id, at))
        return Dialed.DEFERRED
    if account.dialing_paused(r):
        follow_up(services, callbacks.dialing_failed(r, settings, reservation_id, "dialing paused"))
        return Dialed.PAUSED
    guard = keys.DIAL_GUARD.format(reservation_id, "counselor")
    if not r.set(guard, "1", nx=True, ex=settings.lease_seconds * 2):
        return Dialed.ALREADY_DIALED
    pacing.wait_for_slot(r, settings.calls_per_second)
    try:
        call_sid = twilio_rest.call_counselor(services, reservation_id, counselor.phone)
    except Exception as exc:
        return _dial_refused(services, reservation_id, guard, exc)
    # Recorded before anything else can fail, so no retry or sweep ever dials again.
    callbacks.call_placed(r, settings, reservation_id, call_sid)
    metrics.incr(r, metrics.CALLBACKS_PLACED)
    account.clear(r)  # a call went through: any account trouble is over
    log.info("reservation %s: ringing counselor %s", reservation_id, counselor.id)
    return Dialed.DIALED


def _dial_refused(services: Services, reservation_id: str, guard: str, exc: Exception) -> Dialed:
    """Twilio refused (or may not have received) the counselor call: act on whose fault it
    is; re-raise what RQ should retry or record."""
    r, settings = services.redis, services.settings
    blame = twilio_rest.blame(exc)
    if blame is None:
        raise exc  # unknown whether a call was placed: keep the guard; the lease decides
    if blame is Blame.TRANSIENT:
        r.delete(guard)  # nothing was dialed: RQ's retry may dial
        raise exc
    reason = twilio_rest.describe(exc)
    if blame is Blame.ACCOUNT:
        trouble = account.pause_dialing(r, twilio_rest.error_code(exc), reason)
        log.error("dialing paused for %.0f s: %s", trouble.paused_until - trouble.at, reason)
        follow_up(services, callbacks.dialing_failed(r, settings, reservation_id, reason))
        return Dialed.PAUSED
    follow_up(services, callbacks.counselor_unreachable(r, settings, reservation_id, reason))
    return Dialed.COUNSELOR_UNREACHABLE
