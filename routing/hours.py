"""Calling hours: a caller is only called back inside CALLING_HOURS in their local time.

The time zone comes from the number (phonenumbers); when a number's area spans several
zones, a time is inside the hours only if it is inside them in every zone, so nobody is
called before the window opens or after it closes where they live.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from routing.leads import Lead
from routing.phones import time_zones
from settings import CallingHours

#: A first callback to someone who called this recently is always allowed: they are waiting.
RECENT_CALLER_SECONDS = 3600


def inside(hours: CallingHours, zones: list[ZoneInfo], at: float) -> bool:
    """Whether Unix time ``at`` is inside the hours in every zone."""
    moment = datetime.fromtimestamp(at, UTC)
    return all(hours.contains(moment.astimezone(z).time().replace(tzinfo=None)) for z in zones)


def may_call(lead: Lead, hours: CallingHours, now: float) -> bool:
    """Whether this lead may be called back now."""
    if lead.attempts == 0 and now - lead.first_call_at < RECENT_CALLER_SECONDS:
        return True
    return inside(hours, time_zones(lead.phone), now)


def next_opening(hours: CallingHours, zones: list[ZoneInfo], now: float) -> float:
    """The first moment at or after ``now`` inside the hours in every zone."""
    if inside(hours, zones, now):
        return now
    candidates = []
    for zone in zones:
        local = datetime.fromtimestamp(now, UTC).astimezone(zone)
        for days in (0, 1, 2):
            start = datetime.combine(local.date() + timedelta(days=days), hours.start, zone)
            candidates.append(start.timestamp())
    for at in sorted(c for c in candidates if c >= now):
        if inside(hours, zones, at):
            return at
    # The zones' windows never overlap: the first opening anywhere is the least bad choice.
    return min(c for c in candidates if c >= now)


def next_call_time(lead: Lead, hours: CallingHours, now: float) -> float:
    """When this lead may next be called (``now`` if it may be called now)."""
    if may_call(lead, hours, now):
        return now
    return next_opening(hours, time_zones(lead.phone), now)
