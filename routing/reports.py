"""Statistics for the dashboard and its CSV export: plain values in, plain values out.

A day and an hour are the call center's (REPORT_TIME_ZONE, as the daily counters in
routing.stats). Time to
callback runs from the caller's first call to the moment a counselor was bridged to them.
Service level is the share of decided leads called back within SERVICE_LEVEL_SECONDS,
where a lead is decided once it was connected or has waited longer than the target
(a lead still inside the target is neither a success nor a miss yet).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from routing import stats
from routing.dispositions import DISPOSITION_PREFIX, Disposition, counter_name
from routing.leads import LeadStatus
from routing.reservation import ReservationState

#: The most days one report may span (keeps a request's Redis work bounded).
MAX_DAYS = 92


@dataclass(frozen=True)
class LeadOutcome:
    """What the report needs to know about one lead."""

    lead_id: str
    created_at: float
    first_call_at: float
    status: str
    ivr_abandoned: bool = False
    connected_at: float | None = None

    @property
    def queued(self) -> bool:
        """Whether the lead finished the IVR and entered the queue."""
        return not self.ivr_abandoned and self.status != LeadStatus.INTAKE.value

    @property
    def time_to_callback(self) -> float | None:
        """Seconds from the first call to the bridged callback, or None if never bridged."""
        if self.connected_at is None:
            return None
        return max(0.0, self.connected_at - self.first_call_at)


@dataclass(frozen=True)
class HourRow:
    """One hour (call center time) of one or more days."""

    hour: int
    leads: int = 0
    connected: int = 0
    median_seconds: float | None = None


@dataclass(frozen=True)
class Offer:
    """One callback offered to a counselor (a reservation), as the report needs it."""

    counselor_id: str
    lead_id: str
    state: str
    created_at: float
    bridged_at: float = 0.0
    ended_at: float = 0.0

    @property
    def handle_seconds(self) -> float | None:
        """Talk time of a connected callback: from the bridge to the end of the call."""
        if self.state != ReservationState.CONNECTED or not self.bridged_at or not self.ended_at:
            return None
        return max(0.0, self.ended_at - self.bridged_at)


@dataclass(frozen=True)
class CounselorFigures:
    """One counselor's work in the span."""

    counselor_id: str
    name: str
    offers: int = 0
    #: Callbacks connected (bridged to the caller).
    taken: int = 0
    #: Offers the counselor did not take (no answer, declined, hung up before the bridge).
    missed: int = 0
    median_handle_seconds: float | None = None
    total_handle_seconds: float = 0.0
    dispositions: dict[str, int] = field(default_factory=dict)


def by_counselor(
    offers: Iterable[Offer],
    dispositions: dict[str, tuple[str, str]],
    names: dict[str, str],
) -> list[CounselorFigures]:
    """Figures per counselor from their offers; ``dispositions``: lead id -> (value,
    counselor id) of the recorded outcome. Busiest first."""
    grouped: dict[str, list[Offer]] = {}
    for offer in offers:
        grouped.setdefault(offer.counselor_id, []).append(offer)
    out = []
    for cid, theirs in grouped.items():
        handle = [t for o in theirs if (t := o.handle_seconds) is not None]
        counted: dict[str, int] = {}
        for o in theirs:
            value, by = dispositions.get(o.lead_id, ("", ""))
            if o.state == ReservationState.CONNECTED and value and by == cid:
                counted[value] = counted.get(value, 0) + 1
        out.append(
            CounselorFigures(
                counselor_id=cid,
                name=names.get(cid) or cid,
                offers=len(theirs),
                taken=sum(o.state == ReservationState.CONNECTED for o in theirs),
                missed=sum(o.state == ReservationState.MISSED for o in theirs),
                median_handle_seconds=median(handle),
                total_handle_seconds=sum(handle),
                dispositions=dict(sorted(counted.items())),
            )
        )
    return sorted(out, key=lambda f: (-f.taken, -f.offers, f.name))


@dataclass(frozen=True)
class Report:
    """Numbers for a span of days (one day for "today")."""

    first_day: date
    last_day: date
    calls_received: int
    leads: int
    abandoned_in_ivr: int
    callbacks_connected: int
    unreachable: int
    median_seconds: float | None
    p90_seconds: float | None
    service_level: float | None  # 0..1, None when no lead is decided yet
    service_level_seconds: int
    decided: int
    by_hour: list[HourRow] = field(default_factory=list)
    by_day: list[dict[str, Any]] = field(default_factory=list)
    #: How calls ended, as counselors recorded it: disposition value -> count.
    dispositions: dict[str, int] = field(default_factory=dict)
    #: Each counselor's offers, callbacks taken, missed offers, handle time, dispositions.
    by_counselor: list[CounselorFigures] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "calls_received": self.calls_received,
            "leads": self.leads,
            "abandoned_in_ivr": self.abandoned_in_ivr,
            "callbacks_connected": self.callbacks_connected,
            "unreachable": self.unreachable,
            "median_seconds": self.median_seconds,
            "p90_seconds": self.p90_seconds,
            "service_level": self.service_level,
            "service_level_seconds": self.service_level_seconds,
            "decided": self.decided,
            "by_hour": [h.__dict__ for h in self.by_hour],
            "by_day": self.by_day,
            "dispositions": self.dispositions,
            "by_counselor": [f.__dict__ for f in self.by_counselor],
        }


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The ``pct`` percentile (0-100) by the nearest-rank method; None for no values.

    Nearest rank always answers with a time that really happened, which is what a
    supervisor expects to read ("90% were called back within 12 minutes").
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def median(values: Sequence[float]) -> float | None:
    """The middle value (mean of the two middle ones for an even count); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def service_level(
    outcomes: Iterable[LeadOutcome], target_seconds: int, now: float
) -> tuple[float | None, int]:
    """(share of decided queued leads called back within the target, number decided)."""
    met = decided = 0
    for o in outcomes:
        if not o.queued:
            continue
        ttc = o.time_to_callback
        if ttc is not None:
            decided += 1
            met += ttc <= target_seconds
        elif now - o.first_call_at > target_seconds:
            decided += 1  # waited past the target without a callback: a miss
    return (met / decided if decided else None), decided


def by_hour(outcomes: Iterable[LeadOutcome], zone: tzinfo) -> list[HourRow]:
    """Leads made and callbacks connected in each hour of the day (0-23) in ``zone``."""
    made = [0] * 24
    connected = [0] * 24
    times: list[list[float]] = [[] for _ in range(24)]
    for o in outcomes:
        made[_hour(o.created_at, zone)] += 1
        if o.connected_at is not None and o.time_to_callback is not None:
            h = _hour(o.connected_at, zone)
            connected[h] += 1
            times[h].append(o.time_to_callback)
    return [
        HourRow(hour=h, leads=made[h], connected=connected[h], median_seconds=median(times[h]))
        for h in range(24)
    ]


def build_report(
    first_day: date,
    last_day: date,
    counters_by_day: dict[date, dict[str, int]],
    outcomes: Sequence[LeadOutcome],
    target_seconds: int,
    now: float,
    zone: tzinfo,
) -> Report:
    """Combine daily counters and lead outcomes into one Report (days and hours in
    ``zone``)."""

    def total(name: str) -> int:
        return sum(c.get(name, 0) for c in counters_by_day.values())

    ttc = [t for o in outcomes if (t := o.time_to_callback) is not None]
    level, decided = service_level(outcomes, target_seconds, now)
    days = []
    for day in daterange(first_day, last_day):
        counters = counters_by_day.get(day, {})
        day_outcomes = [o for o in outcomes if _day(o.created_at, zone) == day]
        day_ttc = [t for o in day_outcomes if (t := o.time_to_callback) is not None]
        day_level, _ = service_level(day_outcomes, target_seconds, now)
        days.append(
            {
                "day": day.isoformat(),
                "calls_received": counters.get(stats.CALLS_RECEIVED, 0),
                "leads": counters.get(stats.LEADS_CREATED, 0),
                "abandoned_in_ivr": counters.get(stats.IVR_ABANDONED, 0),
                "callbacks_connected": counters.get(stats.CALLBACKS_CONNECTED, 0),
                "unreachable": counters.get(stats.UNREACHABLE, 0),
                "median_seconds": median(day_ttc),
                "p90_seconds": percentile(day_ttc, 90),
                "service_level": day_level,
                **{
                    counter_name(d.value): counters.get(counter_name(d.value), 0)
                    for d in Disposition
                },
            }
        )
    dispositions: dict[str, int] = {}
    for counters in counters_by_day.values():
        for name, count in counters.items():
            if name.startswith(DISPOSITION_PREFIX):
                value = name[len(DISPOSITION_PREFIX) :]
                dispositions[value] = dispositions.get(value, 0) + count
    return Report(
        first_day=first_day,
        last_day=last_day,
        calls_received=total(stats.CALLS_RECEIVED),
        leads=total(stats.LEADS_CREATED),
        abandoned_in_ivr=total(stats.IVR_ABANDONED),
        callbacks_connected=total(stats.CALLBACKS_CONNECTED),
        unreachable=total(stats.UNREACHABLE),
        median_seconds=median(ttc),
        p90_seconds=percentile(ttc, 90),
        service_level=level,
        service_level_seconds=target_seconds,
        decided=decided,
        by_hour=by_hour(outcomes, zone),
        by_day=days,
        dispositions=dict(sorted(dispositions.items())),
    )


CSV_COLUMNS = (
    "day",
    "calls_received",
    "leads",
    "abandoned_in_ivr",
    "callbacks_connected",
    "unreachable",
    "median_seconds",
    "p90_seconds",
    "service_level",
) + tuple(counter_name(d.value) for d in Disposition)


def csv_rows(report: Report) -> list[list[str]]:
    """Header and one row per day (empty cell where a number is undefined)."""
    rows = [list(CSV_COLUMNS)]
    for day in report.by_day:
        row = []
        for col in CSV_COLUMNS:
            value = day[col]
            if value is None:
                row.append("")
            elif col == "service_level":
                row.append(f"{value:.3f}")
            elif isinstance(value, float):
                row.append(f"{value:.0f}")
            else:
                row.append(str(value))
        rows.append(row)
    return rows


def daterange(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last`` inclusive."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def parse_span(first: str | None, last: str | None, today: date) -> tuple[date, date]:
    """Validate a from/to pair of ISO dates (defaults: today); ValueError says what is wrong."""
    try:
        first_day = date.fromisoformat(first) if first else today
        last_day = date.fromisoformat(last) if last else (first_day if first else today)
    except ValueError:
        raise ValueError("dates must look like 2024-05-31") from None
    if last_day < first_day:
        raise ValueError("the last day is before the first day")
    if last_day > today:
        raise ValueError("the last day is in the future")
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise ValueError(f"choose at most {MAX_DAYS} days")
    return first_day, last_day


# --- Reading Redis ----------------------------------------------------------------------


def _hour(at: float, zone: tzinfo) -> int:
    return datetime.fromtimestamp(at, zone).hour


def _day(at: float, zone: tzinfo) -> date:
    return datetime.fromtimestamp(at, zone).date()
