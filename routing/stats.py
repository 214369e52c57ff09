"""Daily counters for the dashboard (calls, leads, outcomes), by date in the call center's
time zone (REPORT_TIME_ZONE)."""

from __future__ import annotations

import time
from datetime import date, datetime, tzinfo

from redis import Redis

from routing import keys

#: Counter names, documented where they are defined.
CALLS_RECEIVED = "calls_received"  # inbound calls that reached the IVR
LEADS_CREATED = "leads_created"  # leads made (one per caller, duplicates excluded)
IVR_ABANDONED = "ivr_abandoned"  # leads whose caller hung up before the IVR's end
CALLBACKS_CONNECTED = "callbacks_connected"  # callers bridged to a counselor
UNREACHABLE = "unreachable"  # leads whose every attempt failed
#: Days counters are kept.
RETENTION_SECONDS = 400 * 86400


def date_key(day: date) -> str:
    """The hash holding one date's counters."""
    return keys.DAILY_STATS.format(day.isoformat())


def day_key(zone: tzinfo, at: float | None = None) -> str:
    """The hash holding the counters of the day (in ``zone``) that ``at`` falls on."""
    return date_key(datetime.fromtimestamp(time.time() if at is None else at, zone).date())


def incr(r: Redis, zone: tzinfo, name: str, at: float | None = None, by: int = 1) -> None:
    """Add to one of the day's counters."""
    key = day_key(zone, at)
    pipe = r.pipeline()
    pipe.hincrby(key, name, by)
    pipe.expire(key, RETENTION_SECONDS)
    pipe.execute()


def day(r: Redis, zone: tzinfo, at: float | None = None) -> dict[str, int]:
    """One day's counters."""
    return {k: int(v) for k, v in r.hgetall(day_key(zone, at)).items()}
