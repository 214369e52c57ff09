"""The queue of waiting callbacks: one sorted set per (language, insurance) bucket plus one
set of all, every member scored by ``Lead.queue_score`` (priority with aging, fixed for life).

Only the heads of the bucket sets are ever read by matching, so its cost does not grow with
the number waiting.
"""

from __future__ import annotations

import time
from typing import Any

from redis import Redis
from redis.client import Pipeline

from routing import keys, stats
from routing.counselors import FREE, OFF_DUTY, list_counselors
from routing.leads import Lead, LeadStatus, get_lead
from routing.scripts import run_script
from settings import Settings

#: Average minutes a callback occupies a counselor, for the estimate given to callers before
#: any real history exists.
DEFAULT_HANDLE_SECONDS = 600


def bucket_key(language: str, insurance: str) -> str:
    """The sorted set of one skill bucket."""
    return keys.WAITING.format(language, insurance)


def add_waiting(r: Redis, settings: Settings, lead: Lead) -> None:
    """Put a lead in line at its fixed score (a retry returns to its original place).

    Its status becomes ``waiting`` in the same transaction, because matching only takes
    leads whose hash says so; call it after the lead is saved, then request a match.
    """
    score = lead.queue_score(settings.urgent_head_start, settings.self_head_start)
    now = time.time()
    lead.status = LeadStatus.WAITING.value
    pipe = r.pipeline(transaction=True)
    # queued_at starts the clock of the insurance-specialist preference (WIDEN_AFTER_SECONDS).
    pipe.hset(
        keys.LEAD.format(lead.id),
        mapping={"status": lead.status, "queued_at": repr(now), "updated_at": repr(now)},
    )
    pipe.zadd(bucket_key(lead.language, lead.insurance), {lead.id: score})
    pipe.zadd(keys.WAITING_ALL, {lead.id: score})
    pipe.execute()


def leave_line(pipe: Pipeline, lead: Lead) -> None:
    """Queue on ``pipe`` the commands that take a lead out of line (its bucket, then the
    whole line), so a caller can put them in the same transaction as a status change."""
    pipe.zrem(bucket_key(lead.language, lead.insurance), lead.id)
    pipe.zrem(keys.WAITING_ALL, lead.id)


def position(r: Redis, lead_id: str) -> int | None:
    """1-based place in line, or None if not waiting."""
    rank = r.zrank(keys.WAITING_ALL, lead_id)
    return None if rank is None else int(rank) + 1


def waiting_count(r: Redis) -> int:
    """How many callbacks are waiting."""
    return int(r.zcard(keys.WAITING_ALL))


def estimate_wait_seconds(r: Redis, place: int) -> int:
    """An honest estimate of the wait for the caller at ``place`` in line.

    Callers a free counselor can take now wait about a minute (the dialing itself); the
    rest wait for the places ahead of them beyond the free counselors, times the average
    handle time of recent bridged calls (talk plus wrap-up), shared among the counselors
    working now; one handle time per place while nobody is working, since we cannot
    promise more.
    """
    inputs = run_script(
        r,
        "wait_inputs",
        [keys.HANDLE_TIMES, keys.COUNSELOR_STATES],
        [" ".join(FREE), " ".join(OFF_DUTY)],
    )
    return wait_estimate(place, [int(v) for v in inputs])


def wait_estimate(place: int, inputs: list[int]) -> int:
    """:func:`estimate_wait_seconds` from what the prelude's ``wait_inputs`` read: counselors
    working, of those free, then recent handle times."""
    working, free, *recent = inputs
    handle = sum(recent) / len(recent) if recent else DEFAULT_HANDLE_SECONDS
    ahead = max(0, place - free)
    return max(60, int(ahead * handle / max(1, working)))


def waiting_leads(r: Redis, limit: int = 200, offset: int = 0) -> list[Lead]:
    """Waiting leads in serving order (best score first)."""
    ids = r.zrange(keys.WAITING_ALL, offset, offset + limit - 1)
    return [lead for lead in (get_lead(r, i) for i in ids) if lead is not None]


def snapshot(
    r: Redis, settings: Settings, limit: int = 200, now: float | None = None
) -> dict[str, Any]:
    """The queue as the API and dashboard show it: waiting callbacks (masked), counselors
    and today's numbers."""
    now = time.time() if now is None else now
    waiting = []
    for place, lead in enumerate(waiting_leads(r, limit), start=1):
        item = lead.public(now)
        item["position"] = place
        waiting.append(item)
    counselors = [c.public(now) for c in list_counselors(r)]
    by_status: dict[str, int] = {}
    for c in counselors:
        by_status[c["status"]] = by_status.get(c["status"], 0) + 1
    oldest = max((w["waiting_seconds"] for w in waiting), default=0)
    return {
        "waiting": waiting,
        "counselors": counselors,
        "stats": {
            "waiting": waiting_count(r),
            "longest_wait_seconds": oldest,
            "reserved": int(r.zcard(keys.LEASES)),
            "retry_or_deferred": int(r.zcard(keys.DUE)),
            "counselors_by_status": by_status,
            "today": stats.day(r, settings.report_time_zone, now),
        },
    }
