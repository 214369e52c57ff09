"""Atomic matching of waiting callbacks with idle counselors, in two steps.

First the heads are read (one pipelined round trip for the 12 bucket heads and the heads of
the idle sets, then one for their records), and the pair chosen
here as the one script used to: the best-placed lead whose bucket has a free counselor,
the longest idle of them, any counselor of the language once the lead has waited
WIDEN_AFTER_SECONDS. Then ``reserve.lua`` is given every key of that lead, counselor and
reservation and reserves them together under a lease, only if the lead is still at its
bucket's head and the counselor still free; else it is read again. Redis runs scripts one
at a time, so no counselor ever gets two callbacks and no callback two counselors, whatever
the number of web and worker processes matching at once. Each assignment reads only heads:
O(log n) in the callers waiting.

Two steps rather than one script that finds and reserves: a script must be given every key
it touches (docs/ARCHITECTURE.md, "High availability and cluster mode"), and which lead and
counselor are at the heads is known only once the heads are read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis

from routing import keys
from routing.counselors import FREE, all_idle_keys
from routing.leads import INSURANCE, LANGUAGES, LeadStatus
from routing.reservation import ReservationState
from routing.scripts import run_script
from settings import Settings

#: Most assignments made by one call of :func:`match`.
MAX_ASSIGNMENTS_PER_CALL = 50
#: Reservations refused in a row (the heads changed between reading and reserving) after
#: which a call of :func:`match` gives up: the next match or sweep carries on.
MAX_RETRIES = 20
#: Counselors read at the head of each idle set: those whose phone is still hanging up from
#: our last call (a few seconds) are passed over; one free behind more than this many is
#: matched by the next match or sweep, once they have hung up.
IDLE_PEEK = 32
#: Counselors read first at the head of each idle set. Only when every one of them in some
#: set is still hanging up are the heads read again IDLE_PEEK deep: with many counselors
#: free, reading all of IDLE_PEEK every time cost most of a match.
FIRST_PEEK = 4
#: Every waiting bucket, in the order of the idle sets (routing.counselors.all_idle_keys).
BUCKETS = [keys.WAITING.format(lang, ins) for lang in LANGUAGES for ins in INSURANCE]


@dataclass(frozen=True)
class Pair:
    """A lead and a counselor chosen from the heads, and where they were found."""

    lead_id: str
    score: float
    bucket: str
    counselor_id: str
    idle_set: str


def match(
    r: Redis, settings: Settings, now: float | None = None, limit: int = MAX_ASSIGNMENTS_PER_CALL
) -> list[str]:
    """Reserve as many (callback, counselor) pairs as possible; return the reservation ids.
    None while dialing is paused for an account-level error (routing.account)."""
    made: list[str] = []
    refused = 0
    while len(made) < limit and refused < MAX_RETRIES:
        at = time.time() if now is None else now
        pair = _choose(r, settings, at)
        if pair is None:
            break
        # Minted only for a pair chosen: reservation ids follow time, with few gaps (the
        # console and reports read the newest ones back by number).
        reservation_id = f"R{int(r.incr(keys.RESERVATION_SEQ)):06d}"  # type: ignore[arg-type]
        outcome = _reserve(r, settings, pair, reservation_id, at)
        if outcome == "paused":
            break
        if outcome == "reserved":
            made.append(reservation_id)
            refused = 0
        else:
            refused += 1
    return made


def _choose(r: Redis, settings: Settings, now: float) -> Pair | None:
    """The best pair at the heads now, or None (nobody to pair, or dialing paused). Heads
    that are stale (a lead no longer waiting, a counselor no longer free) are dropped and
    the heads read again."""
    idle_keys = all_idle_keys()
    peek = FIRST_PEEK
    while True:
        pipe = r.pipeline(transaction=False)
        pipe.exists(keys.DIAL_PAUSED)
        for bucket in BUCKETS:
            pipe.zrange(bucket, 0, 0, withscores=True)
        for idle in idle_keys:
            pipe.zrange(idle, 0, peek - 1)
        paused, *heads = pipe.execute()
        leads = {b: h[0] for b, h in zip(BUCKETS, heads[: len(BUCKETS)], strict=True) if h}
        idle = dict(zip(idle_keys, heads[len(BUCKETS) :], strict=True))
        if paused or not leads or not any(idle.values()):
            return None
        ids = sorted({cid for members in idle.values() for cid in members})
        pipe = r.pipeline(transaction=False)
        for lead_id, _ in leads.values():
            pipe.hmget(keys.LEAD.format(lead_id), "status", "queued_at", "first_call_at")
        for cid in ids:
            pipe.hmget(keys.COUNSELOR.format(cid), "status", "leg_until")
        records = pipe.execute()
        lead_records = dict(zip(leads, records[: len(leads)], strict=True))
        counselor_records = dict(zip(ids, records[len(leads) :], strict=True))
        stale = _drop_stale(r, leads, lead_records, idle, counselor_records)
        if stale:
            continue
        if peek < IDLE_PEEK and _all_hanging_up(now, idle, counselor_records, peek):
            peek = IDLE_PEEK  # someone free may be behind them: read deeper, as before
            continue
        return _best(settings, now, leads, lead_records, idle, counselor_records)


def _all_hanging_up(
    now: float,
    idle: dict[str, list[str]],
    counselor_records: dict[str, list[str | None]],
    peek: int,
) -> bool:
    """Whether some idle set's first ``peek`` counselors, all that were read of it, are all
    still hanging up from our last call (then more may be behind them)."""
    return any(
        len(members) == peek and all(_hanging_up(counselor_records[cid], now) for cid in members)
        for members in idle.values()
    )


def _hanging_up(record: list[str | None], now: float) -> bool:
    """Whether a counselor's phone (their [status, leg_until] record) is still hanging up
    from our last call (reserve.lua checks the same)."""
    return float(record[1] or 0) > now


def _best(
    settings: Settings,
    now: float,
    leads: dict[str, tuple[str, float]],
    lead_records: dict[str, list[str | None]],
    idle: dict[str, list[str]],
    counselor_records: dict[str, list[str | None]],
) -> Pair | None:
    """The pair matching makes from these heads (all of them live)."""

    def longest_idle(idle_key: str) -> str | None:
        for cid in idle[idle_key]:
            if not _hanging_up(counselor_records[cid], now):
                return cid
        return None

    best: Pair | None = None
    for i, bucket in enumerate(BUCKETS):
        if bucket not in leads:
            continue
        lead_id, score = leads[bucket]
        if best is not None and score >= best.score:
            continue
        idle_key = all_idle_keys()[i]
        counselor = longest_idle(idle_key)
        if counselor is None:
            # No one serves this insurance: after WIDEN_AFTER_SECONDS any counselor may.
            _, queued_at, first_call_at = lead_records[bucket]
            queued = float(queued_at or first_call_at or now)
            if now - queued >= settings.widen_after_seconds:
                idle_key = all_idle_keys()[len(BUCKETS) + i // len(INSURANCE)]
                counselor = longest_idle(idle_key)
        if counselor is not None:
            best = Pair(lead_id, score, bucket, counselor, idle_key)
    return best


def _drop_stale(
    r: Redis,
    leads: dict[str, tuple[str, float]],
    lead_records: dict[str, list[str | None]],
    idle: dict[str, list[str]],
    counselor_records: dict[str, list[str | None]],
) -> int:
    """Take the heads that are no longer what their set says out of it (checked again in
    ``drop_stale.lua``); how many were found."""
    found = 0
    for bucket, (lead_id, _) in leads.items():
        if lead_records[bucket][0] != LeadStatus.WAITING.value:
            found += 1
            run_script(
                r,
                "drop_stale",
                [keys.LEAD.format(lead_id), bucket, keys.WAITING_ALL],
                [lead_id, "status", LeadStatus.WAITING.value],
            )
    for idle_key, members in idle.items():
        for cid in members:
            if counselor_records[cid][0] not in FREE:
                found += 1
                run_script(
                    r,
                    "drop_stale",
                    [keys.COUNSELOR.format(cid), idle_key],
                    [cid, "status", " ".join(FREE)],
                )
    return found


def _reserve(r: Redis, settings: Settings, pair: Pair, reservation_id: str, now: float) -> str:
    """Reserve ``pair`` as ``reservation_id`` (routing/lua/reserve.lua): 'reserved', 'paused'
    or 'changed'."""
    records = (
        keys.LEAD.format(pair.lead_id),
        keys.COUNSELOR.format(pair.counselor_id),
        keys.RESERVATION.format(reservation_id),
    )
    lists = (keys.LEASES, keys.DIAL_PAUSED, keys.COUNSELOR_STATES, pair.idle_set)
    return str(
        run_script(
            r,
            "reserve",
            [pair.bucket, keys.WAITING_ALL, *records, *lists, *all_idle_keys()],
            [
                repr(now),
                settings.lease_seconds,
                reservation_id,
                pair.lead_id,
                pair.counselor_id,
                repr(pair.score),
                LeadStatus.WAITING.value,
                LeadStatus.RESERVED.value,  # the same word for a counselor (RESERVED)
                " ".join(FREE),
                ReservationState.OFFERED.value,
            ],
        )
    )
