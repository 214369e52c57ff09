"""What ``/metrics`` reports, read from Redis: lifetime counters that every process adds to,
and the floor as it is now (callbacks waiting, counselors by state). Plain values in and
out; hotline/metrics.py turns them into Prometheus' text format.

The counters live in one Redis hash (``keys.METRICS``), not in each process's memory: a
worker's count survives its restart and every web process reports the same totals, so
Prometheus sees one monotonic series however many processes there are. The floor is read
at scrape time and never kept, so it cannot drift from the state it describes. Labels are
drawn from small fixed sets (outcomes, error codes, states): never a number or an id.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from redis import Redis

from routing import keys
from routing.counselors import CounselorStatus, list_counselors
from routing.leads import LANGUAGES, Lead
from routing.supervision import shown_state

#: Counselor calls placed (Twilio accepted the Calls request): each is one callback attempt.
CALLBACKS_PLACED = "callbacks_placed"
#: Callbacks ended, by routing.endings.Ending value (written by end_reservation.lua).
CALLBACKS_ENDED = "callbacks_ended:{0}"
#: Requests Twilio's REST API refused or never answered, by error code
#: (workers.twilio_rest.error_label).
TWILIO_ERRORS = "twilio_errors:{0}"
#: Sweeps run to the end, by any process.
SWEEP_RUNS = "sweep_runs"
#: What the sweeps repaired, by kind (one of REPAIRS).
SWEEP_REPAIRS = "sweep_repairs:{0}"
#: What a sweep counts as a repair (keys of workers.jobs.sweep_now's answer): state a lost
#: job, webhook or process left behind, put right.
REPAIRS = ("reclaimed", "reconciled", "wrapups_ended", "requeued")

#: Priorities of waiting callbacks (routing.leads.Lead.priority), busiest label first.
PRIORITIES = ("urgent", "high", "normal")
#: States a counselor is shown in (routing.supervision.shown_state); retired counselors are
#: in no list, so in no state.
COUNSELOR_STATES = (
    *(s.value for s in CounselorStatus if s is not CounselorStatus.RETIRED),
    "break",
)
#: The lead fields the floor reads of each waiting callback.
_WAITING_FIELDS = ("language", "situation", "urgent", "first_call_at")


def incr(r: Redis, name: str, by: int = 1) -> None:
    """Add to one lifetime counter."""
    r.hincrby(keys.METRICS, name, by)


def incr_many(r: Redis, counts: Mapping[str, int]) -> None:
    """Add to several lifetime counters in one round trip (zeros are skipped)."""
    pipe = r.pipeline(transaction=False)
    for name, by in counts.items():
        if by:
            pipe.hincrby(keys.METRICS, name, by)
    if len(pipe):
        pipe.execute()


def counters(r: Redis) -> dict[str, int]:
    """Every lifetime counter, by field name."""
    return {name: int(value) for name, value in r.hgetall(keys.METRICS).items()}


def by_label(counts: Mapping[str, int], template: str) -> dict[str, int]:
    """The counters of one labelled template (``TWILIO_ERRORS``), by label value."""
    prefix = template.format("")
    return {name[len(prefix) :]: n for name, n in counts.items() if name.startswith(prefix)}


@dataclass(frozen=True)
class Floor:
    """The floor now: what the live dashboard shows, as numbers."""

    #: Callbacks waiting in line by (priority, language); every pair present, zeros too.
    waiting: dict[tuple[str, str], int]
    #: Seconds the longest-waiting caller in line has waited since their first call (as
    #: the dashboard counts it); 0 with nobody waiting.
    longest_wait_seconds: float
    #: Counselors by shown state; every state present, zeros too.
    counselors: dict[str, int]
    #: Callbacks being placed or on the phone now (live reservations).
    in_progress: int
    #: Callbacks waiting for a retry or for the caller's calling hours.
    scheduled: int
    #: Whether dialing is paused for an account-level Twilio error.
    dialing_paused: bool


def floor(r: Redis, now: float | None = None) -> Floor:
    """Read the floor: four round trips whatever the size of the line."""
    now = time.time() if now is None else now
    pipe = r.pipeline(transaction=False)
    pipe.zrange(keys.WAITING_ALL, 0, -1)
    pipe.zcard(keys.LEASES)
    pipe.zcard(keys.DUE)
    pipe.exists(keys.DIAL_PAUSED)
    ids, in_progress, scheduled, paused = pipe.execute()
    pipe = r.pipeline(transaction=False)
    for lead_id in ids:
        pipe.hmget(keys.LEAD.format(lead_id), _WAITING_FIELDS)
    waiting = {(p, lang): 0 for p in PRIORITIES for lang in LANGUAGES}
    longest = 0.0
    for lead_id, values in zip(ids, pipe.execute(), strict=True):
        found = {k: v for k, v in zip(_WAITING_FIELDS, values, strict=True) if v is not None}
        if not found:
            continue  # gone since the line was read
        lead = Lead.from_redis({"id": lead_id, "call_sid": "", "phone": "", **found})
        pair = (lead.priority, lead.language)
        waiting[pair] = waiting.get(pair, 0) + 1
        if lead.first_call_at:
            longest = max(longest, now - lead.first_call_at)
    counselors = dict.fromkeys(COUNSELOR_STATES, 0)
    for counselor in list_counselors(r):
        state = shown_state(counselor)
        counselors[state] = counselors.get(state, 0) + 1
    return Floor(
        waiting=waiting,
        longest_wait_seconds=longest,
        counselors=counselors,
        in_progress=int(in_progress),
        scheduled=int(scheduled),
        dialing_paused=bool(paused),
    )
