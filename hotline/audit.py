"""The audit log (42 CFR Part 2 / HIPAA accounting of disclosures): who read or changed
which lead, when, and through what. Entries hold ids only, never a phone number."""

from __future__ import annotations

import time
from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from redis import Redis

from routing import keys


def actor() -> str:
    """Who is acting in the current request: ``user:<id>:<username>`` or ``api-token``."""
    if not has_request_context():
        return "system"
    if current_user and current_user.is_authenticated:
        return f"user:{current_user.id}:{current_user.username}"
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return "api-token"
    return "anonymous"


def who_name(who: str) -> str:
    """An entry's actor for people: the username, not ``user:<id>:<username>``."""
    if who.startswith("user:") and who.count(":") >= 2:
        return who.split(":", 2)[2]
    return {"api-token": "API token", "system": "Hotline (automatic)"}.get(who, who)


def record(r: Redis, action: str, lead_id: str, who: str | None = None, **detail: str) -> None:
    """Append one entry: ``action`` (read, disposition, remove, move...) on ``lead_id``."""
    entry: dict[str, Any] = {
        "at": f"{time.time():.3f}",
        "who": who or actor(),
        "action": action,
        "lead": lead_id,
        "via": request.path if has_request_context() else "",
    }
    entry.update({k: str(v) for k, v in detail.items()})
    # No length cap: an accounting of disclosures is kept for AUDIT_RETENTION_DAYS, and only
    # the retention sweep trims it, by age (routing.retention, XTRIM MINID).
    r.xadd(keys.AUDIT, entry)


def lead_read(r: Redis, lead_id: str) -> None:
    """Record that the current user (or API token) read a lead's details."""
    record(r, "read", lead_id)


def entries(r: Redis, lead_id: str | None = None, count: int = 200) -> list[dict[str, str]]:
    """The newest entries, newest first, optionally only those about one lead."""
    out: list[dict[str, str]] = []
    # Scan back in pages so a filter by lead still finds ``count`` matches.
    last = "+"
    while len(out) < count:
        page = r.xrevrange(keys.AUDIT, max=last, min="-", count=500)
        if not page:
            break
        for entry_id, fields in page:
            if entry_id == last:
                continue
            if lead_id is None or fields.get("lead") == lead_id:
                out.append({"id": entry_id, **fields})
                if len(out) >= count:
                    break
        if len(page) < 500:
            break
        last = page[-1][0]
    return out


#: Seconds during which repeated refreshes of the same lead by the same user count as one
#: read (the console refreshes every second while a call is open).
VIEWING_SECONDS = 600


def lead_viewed(r: Redis, lead_id: str) -> None:
    """Record a read from a refreshing view: once per user and lead per VIEWING_SECONDS."""
    if r.set(keys.AUDIT_SEEN.format(actor(), lead_id), "1", nx=True, ex=VIEWING_SECONDS):
        lead_read(r, lead_id)
