"""Records written or read directly, the way a test arranges the state before the behaviour
it checks and reads it after. Hotline itself writes leads only through its scripts
(routing/lua), so these live here, not in routing/."""

from __future__ import annotations

import time

from redis import Redis

from routing import keys
from routing.ivr_outcomes import pending_field
from routing.leads import Lead, LeadStatus, get_lead
from routing.queue import leave_line
from settings import Settings


def new_lead_id(r: Redis) -> str:
    """A lead id from the same counter and in the same format as intake_open.lua's."""
    return f"L{r.incr(keys.LEAD_SEQ):06d}"


def save_lead(r: Redis, lead: Lead) -> None:
    """Write every field of a lead."""
    lead.updated_at = time.time()
    r.hset(keys.LEAD.format(lead.id), mapping=lead.to_redis())


def remove_waiting(r: Redis, lead: Lead) -> bool:
    """Take a lead out of line (its status unchanged); True if it was in line."""
    pipe = r.pipeline(transaction=True)
    leave_line(pipe, lead)
    removed, _ = pipe.execute()
    return bool(removed)


def find_pending(r: Redis, settings: Settings, phone: str) -> Lead | None:
    """The lead still owed a callback at ``phone`` by its pending link, if any (what
    intake_open.lua finds when that number calls again)."""
    lead_id = r.hget(keys.PENDING_LINKS, pending_field(settings, phone))
    lead = get_lead(r, lead_id) if lead_id else None
    if lead is None or lead.phone != phone or not LeadStatus(lead.status).pending:
        return None
    return lead
