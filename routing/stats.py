"""Daily counters (per UTC date) for the dashboard: calls, leads, outcomes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

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


def day_key(at: float | None = None) -> str:
    """The hash holding one UTC day's counters."""
    day = datetime.fromtimestamp(time.time() if at is None else at, UTC).strftime("%Y-%m-%d")
    return keys.DAILY_STATS.format(day)


def incr(r: Redis, name: str, at: float | None = None, by: int = 1) -> None:
    """Add to one of the day's counters."""
    key = day_key(at)
    pipe = r.pipeline()
    pipe.hincrby(key, name, by)
    pipe.expire(key, RETENTION_SECONDS)
    pipe.execute()


def day(r: Redis, at: float | None = None) -> dict[str, int]:
    """One day's counters."""
    return {k: int(v) for k, v in r.hgetall(day_key(at)).items()}
