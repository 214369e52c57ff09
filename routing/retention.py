"""Retention (42 CFR Part 2 / HIPAA minimum necessary): a lead's details are erased
RETENTION_DAYS after it was made, and the audit log is trimmed to AUDIT_RETENTION_DAYS.

A purged lead keeps what the reports count (routing.reports: created and first-call times,
status, IVR abandonment, the history's times and events) and the answers the counts are
broken down by (language, insurance, situation and urgency: the priority); its number, its
CallSid (Twilio's call log holds the number under it) and free text (status reason, the
history's reasons, the disposition note) are gone, as are the keys that found it by number
or call. It is marked ``purged_at``, so a second purge does nothing. The daily counters
(routing.stats) hold counts only and keep their own 400 days.

The sweep calls :func:`purge` in every worker; one process at a time works (a lock), and a
run looks at no more than ``batch`` leads, walking ``hotline:leads`` by creation time from
where the last run stopped. A lead still owed a callback is held and purged once settled.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis import Redis
from redis.exceptions import LockError, WatchError

from routing import keys
from routing.ivr_outcomes import pending_field
from routing.leads import LeadStatus
from routing.phones import redact
from settings import Settings

#: Leads a run looks at, at most (the sweep runs every few seconds: a backlog drains).
BATCH = 200
#: History fields that may hold free text or the call's id; a purge drops them.
DROPPED_EVENT_FIELDS = frozenset({"reason", "call_sid"})
#: Lead fields a purge erases (set empty: the Lead dataclass requires some of them).
ERASED_LEAD_FIELDS = ("phone", "call_sid", "status_reason")
#: Seconds the purge lock is held at most (a run takes milliseconds).
LOCK_SECONDS = 60


class Outcome(StrEnum):
    """What a purge did with one lead."""

    PURGED = "purged"
    ALREADY = "already"  # purged before (idempotent)
    HELD = "held"  # still owed a callback; purged once settled
    GONE = "gone"  # no such lead


@dataclass(frozen=True)
class Run:
    """One run of the purge."""

    at: float
    purged: int = 0
    held: int = 0
    audit_trimmed: int = 0
    skipped: bool = False  # another process was purging


def purge(r: Redis, settings: Settings, now: float | None = None, batch: int = BATCH) -> Run:
    """Purge leads made more than RETENTION_DAYS ago (at most ``batch`` looked at) and trim
    the audit log to AUDIT_RETENTION_DAYS; record the run for the admin page."""
    now = time.time() if now is None else now
    lock = r.lock(keys.RETENTION_LOCK, timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return Run(at=now, skipped=True)
    try:
        purged, held = _purge_leads(r, settings, now - settings.retention_days * 86400, now, batch)
        trimmed = trim_audit(r, now - settings.audit_retention_days * 86400)
        pipe = r.pipeline()
        pipe.hset(
            keys.RETENTION_LAST,
            mapping={"at": repr(now), "purged": purged, "audit_trimmed": trimmed},
        )
        pipe.hincrby(keys.RETENTION_LAST, "total", purged)
        pipe.execute()
        return Run(at=now, purged=purged, held=held, audit_trimmed=trimmed)
    finally:
        try:
            lock.release()
        except LockError:  # it expired first; nobody else's to release
            pass


def last_run(r: Redis) -> dict[str, float] | None:
    """The purge's last run (at, purged, audit_trimmed, total), or None if it never ran."""
    data = r.hgetall(keys.RETENTION_LAST)
    if not data:
        return None
    return {k: float(v) for k, v in _decoded(data).items()}


def trim_audit(r: Redis, before: float) -> int:
    """Drop audit entries written before ``before`` (stream ids are milliseconds)."""
    return int(r.xtrim(keys.AUDIT, minid=f"{int(before * 1000)}-0", approximate=False))


def purge_lead(r: Redis, settings: Settings, lead_id: str, now: float) -> Outcome:
    """Erase one lead's number, ids of its call and free text; keep what reports count."""
    lead_key, events_key = keys.LEAD.format(lead_id), keys.LEAD_EVENTS.format(lead_id)
    disposition_key = keys.LEAD_DISPOSITION.format(lead_id)
    with r.pipeline() as pipe:
        try:
            pipe.watch(lead_key, events_key, disposition_key)
            data = _decoded(pipe.hgetall(lead_key))
            if not data:
                return Outcome.GONE
            if data.get("purged_at"):
                return Outcome.ALREADY
            if LeadStatus(data.get("status", LeadStatus.INTAKE.value)).pending:
                return Outcome.HELD
            events = [_scrubbed(x) for x in pipe.lrange(events_key, 0, -1)]
            phone, call_sid = data.get("phone", ""), data.get("call_sid", "")
            stale = [keys.CALL_LEAD.format(call_sid), keys.IVR_SESSION.format(call_sid)]
            link = pending_field(settings, phone) if phone else ""
            if link and _text(pipe.hget(keys.PENDING_LINKS, link)) != lead_id:
                link = ""  # the number's link names a later lead: keep it
            has_disposition = bool(pipe.exists(disposition_key))
            pipe.multi()
            pipe.hset(
                lead_key,
                mapping={**dict.fromkeys(ERASED_LEAD_FIELDS, ""), "purged_at": repr(now)},
            )
            if events:
                pipe.delete(events_key)
                pipe.rpush(events_key, *events)
            if has_disposition:
                pipe.hset(disposition_key, "note", "")
            if call_sid:
                pipe.delete(*stale)
            if link:
                pipe.hdel(keys.PENDING_LINKS, link)
            pipe.execute()
        except WatchError:  # the lead changed under us: the next run looks again
            return Outcome.HELD
    return Outcome.PURGED


def _purge_leads(
    r: Redis, settings: Settings, cutoff: float, now: float, batch: int
) -> tuple[int, int]:
    """(leads purged, leads held) in one run: first the held leads, then onward from the
    cursor through leads made before ``cutoff``."""
    purged = 0
    for lead_id in r.zrange(keys.RETENTION_HELD, 0, batch - 1):
        outcome = purge_lead(r, settings, _text(lead_id), now)
        purged += outcome is Outcome.PURGED
        if outcome is not Outcome.HELD:
            r.zrem(keys.RETENTION_HELD, lead_id)
    # The cursor: the creation time walked up to, and how many leads made at that very
    # time were walked already (leads may share a time; none is skipped or seen twice).
    low, _, seen = (_text(r.get(keys.RETENTION_CURSOR)) or "-inf 0").partition(" ")
    rows = r.zrangebyscore(
        keys.LEADS_BY_TIME, low, cutoff, start=int(seen), num=batch, withscores=True
    )
    for lead_id, created in rows:
        outcome = purge_lead(r, settings, _text(lead_id), now)
        purged += outcome is Outcome.PURGED
        if outcome is Outcome.HELD:
            r.zadd(keys.RETENTION_HELD, {lead_id: created})
    if rows:
        last = rows[-1][1]
        at_last = sum(1 for _, created in rows if created == last)
        if repr(last) == low:
            at_last += int(seen)
        r.set(keys.RETENTION_CURSOR, f"{last!r} {at_last}")
    return purged, int(r.zcard(keys.RETENTION_HELD))


def _scrubbed(raw: Any) -> str:
    """A history entry without free text or the call's id, any number masked."""
    entry = json.loads(raw)
    if not isinstance(entry, dict):
        return redact(_text(raw))
    kept = {
        k: redact(v) if isinstance(v, str) else v
        for k, v in entry.items()
        if k not in DROPPED_EVENT_FIELDS
    }
    return json.dumps(kept)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _decoded(data: dict[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in data.items()}
