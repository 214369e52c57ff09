"""Outbound-call pacing: at most CALLS_PER_SECOND calls placed, across every worker.

Each caller of :func:`wait_for_slot` reserves the next free slot in Redis (one Lua step, so
two workers never take the same slot) and sleeps until it comes. RQ's own RateLimit limits
how many jobs run at once, not how many start per second, so it does not fit here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis

from routing import keys
from routing.scripts import run_script


def reserve_slot(r: Redis, calls_per_second: float, now: float | None = None) -> float:
    """Take the next slot; the seconds to wait before placing the call (0 if free now)."""
    now = time.time() if now is None else now
    wait = run_script(r, "pace", [keys.PACING], [repr(now), repr(1.0 / calls_per_second)])
    return max(0.0, float(wait))


def wait_for_slot(
    r: Redis, calls_per_second: float, sleep: Callable[[float], None] = time.sleep
) -> float:
    """Block until this process may place a call; the seconds waited."""
    wait = reserve_slot(r, calls_per_second)
    if wait > 0:
        sleep(wait)
    return wait
