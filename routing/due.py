"""Leads waiting for a time: a retry after a caller did not answer, or the caller's calling
hours. RQ's scheduler brings each back when it is due; the sweep does the same from the due
list if that job is lost, so both paths go through :func:`requeue_due`."""

from __future__ import annotations

import time

from redis import Redis
from redis.exceptions import WatchError

from routing import keys
from routing.hours import next_call_time
from routing.leads import LeadStatus, get_lead, record_event, set_status
from settings import Settings

#: Statuses of a lead that is waiting for a time.
WAITING_FOR_TIME = (LeadStatus.RETRY_WAIT.value, LeadStatus.DEFERRED.value)
#: Most due leads one sweep brings back.
DUE_PER_SWEEP = 500


def requeue_due(r: Redis, settings: Settings, lead_id: str, now: float | None = None) -> str:
    """A retry or deferred lead's time has come: back in line at its original score, or
    deferred again if it is outside the caller's calling hours. Returns the lead's status
    ("missing" for an unknown lead)."""
    now = time.time() if now is None else now
    lead = get_lead(r, lead_id)
    if lead is None:
        _drop_stale(r, lead_id)
        return "missing"
    if lead.status not in WAITING_FOR_TIME:
        _drop_stale(r, lead_id)
        return lead.status
    due = r.zscore(keys.DUE, lead_id)
    if due is not None and due > now:
        return lead.status  # a stale job: the sweep (or a later job) brings it back
    at = next_call_time(lead, settings.calling_hours, now)
    if at > now:
        set_status(r, lead, WAITING_FOR_TIME, LeadStatus.DEFERRED.value, "due", at)
        record_event(r, lead.id, "deferred", until=at)
        return LeadStatus.DEFERRED.value
    score = lead.queue_score(settings.urgent_head_start, settings.self_head_start)
    if set_status(r, lead, WAITING_FOR_TIME, LeadStatus.WAITING.value, "queue", score):
        record_event(r, lead.id, "requeued", reason="due")
        return LeadStatus.WAITING.value
    again = get_lead(r, lead_id)
    return again.status if again is not None else "missing"


def _drop_stale(r: Redis, lead_id: str) -> None:
    """Take a lead that is not waiting for a time off the due list, unless it has come back
    to waiting for one since it was read (a reservation ending in a retry puts it there
    again): checked and removed in one transaction, so that entry is never lost."""
    key = keys.LEAD.format(lead_id)
    with r.pipeline() as pipe:
        try:
            pipe.watch(key)
            if pipe.hget(key, "status") in WAITING_FOR_TIME:
                return
            pipe.multi()
            pipe.zrem(keys.DUE, lead_id)
            pipe.execute()
        except WatchError:
            pass  # it changed again: the entry stays, the next look decides


def due_leads(r: Redis, now: float) -> list[str]:
    """Leads whose retry or deferral time has come."""
    return list(r.zrangebyscore(keys.DUE, "-inf", now, start=0, num=DUE_PER_SWEEP))
