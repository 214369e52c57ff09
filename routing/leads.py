"""Leads: a caller waiting for a callback, stored as a Redis hash.

A lead's place in line is fixed by its ``first_call_at`` (their first call, forever) less
the head start its priority earns; see :func:`queue_score`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from redis import Redis

from routing import keys
from routing.ids import IdBlocks
from routing.phones import mask
from routing.scripts import flat_pairs, run_script

#: Lead ids (L and six digits or more), minted ahead per process (routing.ids).
LEAD_IDS = IdBlocks(keys.LEAD_SEQ, "L", 6)


class LeadStatus(StrEnum):
    """Where a lead is in its life."""

    INTAKE = "intake"  # the caller is still in the IVR
    WAITING = "waiting"  # in the queue for a counselor
    RESERVED = "reserved"  # a counselor is being dialed / bridged for it
    RETRY_WAIT = "retry_wait"  # the caller did not answer; a retry is scheduled
    DEFERRED = "deferred"  # waiting for the caller's calling hours
    CONNECTED = "connected"  # bridged to a counselor
    UNREACHABLE = "unreachable"  # every attempt failed to reach the caller
    FAILED = "failed"  # a permanent error (for example an invalid number)
    CANCELLED = "cancelled"  # the caller cancelled their callback
    REMOVED = "removed"  # a supervisor removed it from the queue

    @property
    def pending(self) -> bool:
        """Whether the caller is still owed a callback."""
        return self in PENDING_STATUSES


PENDING_STATUSES = frozenset(
    {LeadStatus.WAITING, LeadStatus.RESERVED, LeadStatus.RETRY_WAIT, LeadStatus.DEFERRED}
)

LANGUAGES = ("en", "es")
INSURANCE = ("ppo", "hmo", "medicaid", "medicare", "none", "unknown")


@dataclass
class Lead:
    """A caller owed a callback. Times are Unix seconds (float)."""

    id: str
    call_sid: str
    phone: str  # E.164; empty while unknown (withheld caller ID not yet keyed in)
    language: str = "en"
    situation: str = "self"
    urgent: bool = False
    insurance: str = "unknown"
    consent_at: float = 0.0
    first_call_at: float = 0.0
    created_at: float = 0.0
    status: str = LeadStatus.INTAKE.value
    attempts: int = 0
    ivr_abandoned: bool = False
    status_reason: str = ""
    updated_at: float = 0.0

    @property
    def priority(self) -> str:
        """A label for people: urgent, high (calling for oneself) or normal."""
        if self.urgent:
            return "urgent"
        return "high" if self.situation == "self" else "normal"

    def head_start(self, urgent_head_start: int, self_head_start: int) -> int:
        """Seconds of head start in the queue this lead's priority earns."""
        start = urgent_head_start if self.urgent else 0
        if self.situation == "self":
            start += self_head_start
        return start

    def queue_score(self, urgent_head_start: int, self_head_start: int) -> float:
        """Sorted-set score: earlier is served first. Fixed for the lead's whole life, so a
        retry keeps its place and a long wait overtakes a newer, more urgent caller."""
        return self.first_call_at - self.head_start(urgent_head_start, self_head_start)

    def to_redis(self) -> dict[str, str]:
        """Flatten for HSET."""
        out: dict[str, str] = {}
        for key, value in asdict(self).items():
            if isinstance(value, bool):
                out[key] = "1" if value else "0"
            else:
                out[key] = str(value)
        return out

    @classmethod
    def from_redis(cls, data: dict[str, str]) -> Lead:
        """Rebuild from HGETALL (decoded)."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            if f.type in ("bool", bool):
                kwargs[f.name] = raw == "1"
            elif f.type in ("float", float):
                kwargs[f.name] = float(raw or 0)
            elif f.type in ("int", int):
                kwargs[f.name] = int(raw or 0)
            else:
                kwargs[f.name] = raw
        return cls(**kwargs)

    def public(self, now: float | None = None) -> dict[str, Any]:
        """A JSON-safe view for the API and dashboard, with the number masked."""
        now = time.time() if now is None else now
        return {
            "id": self.id,
            "phone": mask(self.phone),
            "language": self.language,
            "situation": self.situation,
            "urgent": self.urgent,
            "priority": self.priority,
            "insurance": self.insurance,
            "status": self.status,
            "status_reason": self.status_reason,
            "attempts": self.attempts,
            "ivr_abandoned": self.ivr_abandoned,
            "first_call_at": self.first_call_at,
            "waiting_seconds": max(0, int(now - self.first_call_at)),
        }


def get_lead(r: Redis, lead_id: str) -> Lead | None:
    """Load a lead, or None if there is no such lead."""
    data = r.hgetall(keys.LEAD.format(lead_id))
    if not data:
        return None
    return Lead.from_redis(_decode(data))


def history_entry(event: str, **detail: Any) -> str:
    """One entry of a lead's history as it is stored (also written by Lua scripts)."""
    return json.dumps({"at": time.time(), "event": event, **detail})


def record_event(r: Redis, lead_id: str, event: str, **detail: Any) -> None:
    """Append to a lead's history (no personal data in ``detail``)."""
    r.rpush(keys.LEAD_EVENTS.format(lead_id), history_entry(event, **detail))


def lead_events(r: Redis, lead_id: str) -> list[dict[str, Any]]:
    """A lead's history, oldest first."""
    return [json.loads(x) for x in r.lrange(keys.LEAD_EVENTS.format(lead_id), 0, -1)]


def lead_attempts(r: Redis, lead_id: str) -> list[dict[str, Any]]:
    """Each callback attempt of a lead with its outcome, oldest first."""
    return [json.loads(x) for x in r.lrange(keys.LEAD_ATTEMPTS.format(lead_id), 0, -1)]


def set_status(
    r: Redis,
    lead: Lead,
    allowed: tuple[str, ...],
    status: str,
    place: str,
    value: float = 0.0,
    *,
    holding: str = "",
    now: float | None = None,
    **fields: Any,
) -> bool:
    """Compare-and-set a lead's status with its place: ``place`` "queue" (in line at score
    ``value``), "due" (on the due list at ``value``) or "none". False if the lead was not
    in one of ``allowed`` (or, with ``holding``, no longer held by that reservation)."""
    now = time.time() if now is None else now
    args: list[Any] = [
        " ".join(allowed),
        status,
        repr(now),
        place,
        repr(value),
        holding,
        *flat_pairs(fields),
    ]
    keys_ = [
        keys.LEAD.format(lead.id),
        keys.WAITING.format(lead.language, lead.insurance),
        keys.WAITING_ALL,
        keys.DUE,
    ]
    return bool(run_script(r, "lead_state", keys_, args))


def _decode(data: dict[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in data.items()
    }
