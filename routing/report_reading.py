"""A report's records read from Redis: the leads created in a span with when each was
connected, the daily counters, and the reservations (offers) made, then built into a
routing.reports.Report. The figures themselves are computed in routing.reports, from plain
values, so they can be tested without Redis.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from redis import Redis

from routing import keys, stats
from routing.leads import LeadStatus
from routing.reports import (
    CounselorFigures,
    LeadOutcome,
    Offer,
    Report,
    build_report,
    by_counselor,
    daterange,
)
from routing.reservation import ReservationState


def connected_at(events: Iterable[dict[str, Any]]) -> float | None:
    """When the lead was first bridged to a counselor, from its history."""
    for e in events:
        if e.get("event") == LeadStatus.CONNECTED.value or e.get("status") == "connected":
            return float(e["at"])
    return None


def load_outcomes(r: Redis, first_day: date, last_day: date, zone: tzinfo) -> list[LeadOutcome]:
    """Every lead created in the span (days in ``zone``), with when it was connected."""
    start = datetime.combine(first_day, time(0), zone).timestamp()
    # The next midnight, not 24 hours on: a day with a clock change is 23 or 25 hours long.
    end = datetime.combine(last_day + timedelta(days=1), time(0), zone).timestamp()
    ids = r.zrangebyscore(keys.LEADS_BY_TIME, start, f"({end}")
    out: list[LeadOutcome] = []
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        pipe = r.pipeline(transaction=False)
        for lead_id in chunk:
            pipe.hmget(
                keys.LEAD.format(lead_id),
                ["created_at", "first_call_at", "status", "ivr_abandoned"],
            )
            pipe.lrange(keys.LEAD_EVENTS.format(lead_id), 0, -1)
        results = pipe.execute()
        for i, lead_id in enumerate(chunk):
            fields, raw_events = results[2 * i], results[2 * i + 1]
            if fields[0] is None:
                continue  # expired or deleted lead
            created = float(fields[0] or 0)
            out.append(
                LeadOutcome(
                    lead_id=lead_id,
                    created_at=created,
                    first_call_at=float(fields[1] or created),
                    status=fields[2] or "",
                    ivr_abandoned=fields[3] == "1",
                    connected_at=connected_at(json.loads(x) for x in raw_events),
                )
            )
    return out


def load_counters(r: Redis, first_day: date, last_day: date) -> dict[date, dict[str, int]]:
    """The daily counters of every day in the span."""
    days = daterange(first_day, last_day)
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.hgetall(stats.date_key(day))
    return {
        day: {k: int(v) for k, v in data.items()}
        for day, data in zip(days, pipe.execute(), strict=True)
    }


#: The most reservations one report reads back through (a quarter of a busy floor).
MAX_OFFERS = 60000


def load_offers(
    r: Redis, first_day: date, last_day: date, zone: tzinfo, limit: int = MAX_OFFERS
) -> list[Offer]:
    """Every reservation made in the span (days in ``zone``).

    Reservation ids are minted in order, so this reads back from the newest one, a
    pipeline of 500 at a time, until one was made before the span (or ``limit`` were read).
    """
    start = datetime.combine(first_day, time(0), zone).timestamp()
    end = datetime.combine(last_day + timedelta(days=1), time(0), zone).timestamp()
    last = int(r.get(keys.RESERVATION_SEQ) or 0)
    floor = max(0, last - limit)
    out: list[Offer] = []
    fields = ["counselor_id", "lead_id", "state", "created_at", "bridged_at", "updated_at"]
    for top in range(last, floor, -500):
        ids = [f"R{n:06d}" for n in range(top, max(floor, top - 500), -1)]
        pipe = r.pipeline(transaction=False)
        for rid in ids:
            pipe.hmget(keys.RESERVATION.format(rid), fields)
        older = False
        for cid, lead_id, state, created, bridged, updated in pipe.execute():
            if not cid or not created:
                continue
            at = float(created)
            if at < start:
                older = True
                continue
            if at < end:
                out.append(
                    Offer(
                        cid,
                        lead_id or "",
                        state or "",
                        at,
                        float(bridged or 0),
                        float(updated or 0),
                    )
                )
        if older:
            break
    return out


def load_by_counselor(r: Redis, offers: Sequence[Offer]) -> list[CounselorFigures]:
    """Per-counselor figures of ``offers``, with the counselors' names and dispositions."""
    connected = sorted({o.lead_id for o in offers if o.state == ReservationState.CONNECTED})
    counselor_ids = sorted({o.counselor_id for o in offers})
    pipe = r.pipeline(transaction=False)
    for lead_id in connected:
        pipe.hmget(keys.LEAD_DISPOSITION.format(lead_id), ["value", "counselor_id"])
    for cid in counselor_ids:
        pipe.hget(keys.COUNSELOR.format(cid), "name")
    found = pipe.execute()
    dispositions = {
        lead_id: (value or "", by or "")
        for lead_id, (value, by) in zip(connected, found[: len(connected)], strict=True)
    }
    names = dict(zip(counselor_ids, found[len(connected) :], strict=True))
    return by_counselor(offers, dispositions, names)


def report(
    r: Redis, first_day: date, last_day: date, target_seconds: int, now: float, zone: tzinfo
) -> Report:
    """Read the span (days in ``zone``) from Redis and build its Report."""
    built = build_report(
        first_day,
        last_day,
        load_counters(r, first_day, last_day),
        load_outcomes(r, first_day, last_day, zone),
        target_seconds,
        now,
        zone,
    )
    offers = load_offers(r, first_day, last_day, zone)
    return replace(built, by_counselor=load_by_counselor(r, offers))
