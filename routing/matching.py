"""Atomic matching of waiting callbacks with idle counselors (routing/lua/match.lua).

One script call looks only at the 12 bucket heads and the heads of the idle sets, reserves a
callback and a counselor together under a lease, and repeats; Redis runs scripts one at a
time, so no counselor ever gets two callbacks and no callback two counselors, whatever the
number of web and worker processes calling it. Each assignment costs O(log n).
"""

from __future__ import annotations

import time

from redis import Redis

from routing import keys
from routing.counselors import FREE, all_idle_keys
from routing.leads import INSURANCE, LANGUAGES, LeadStatus
from routing.reservation import ReservationState
from routing.scripts import run_script
from settings import Settings

#: Most assignments made by one script call (keeps each call short for Redis).
MAX_ASSIGNMENTS_PER_CALL = 50


def match(
    r: Redis, settings: Settings, now: float | None = None, limit: int = MAX_ASSIGNMENTS_PER_CALL
) -> list[str]:
    """Reserve as many (callback, counselor) pairs as possible; return the reservation ids.
    None while dialing is paused for an account-level error (routing.account)."""
    now = time.time() if now is None else now
    buckets = [keys.WAITING.format(lang, ins) for lang in LANGUAGES for ins in INSURANCE]
    script_keys = [
        *buckets,
        *all_idle_keys(),
        keys.WAITING_ALL,
        keys.LEASES,
        keys.RESERVATION_SEQ,
        keys.DIAL_PAUSED,
    ]
    args = [
        repr(now),
        settings.widen_after_seconds,
        settings.lease_seconds,
        limit,
        keys.LEAD.format(""),
        keys.COUNSELOR.format(""),
        keys.RESERVATION.format(""),
        len(INSURANCE),
        LeadStatus.WAITING.value,
        LeadStatus.RESERVED.value,  # the same word for a counselor (CounselorStatus.RESERVED)
        " ".join(FREE),
        ReservationState.OFFERED.value,
    ]
    return [str(x) for x in run_script(r, "match", script_keys, args)]
