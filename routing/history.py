"""The history of past callbacks for supervisors: search by date, status, counselor,
disposition and the last four digits of the number, newest first, a page at a time.

Leads are indexed only by creation time (``keys.LEADS_BY_TIME``), so a search walks that
index backwards from a cursor (the creation time the last page ended at) and reads each
lead with one pipeline per batch; it looks at no more than ``MAX_SCAN`` leads per page,
so a search that matches little never reads the whole history in one request: it says how
far back it looked and offers to go on from there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from redis import Redis

from routing import keys
from routing.dispositions import Disposition
from routing.leads import Lead, LeadStatus
from routing.phones import mask

#: The query-string fields of a search.
FIELDS = ("from", "to", "status", "counselor", "disposition", "last4")
#: Rows on one page.
PAGE_SIZE = 25
#: The most leads one page looks at (a bound on the Redis work of one request).
MAX_SCAN = 2000
#: Leads read per pipeline.
BATCH = 200


class SearchError(ValueError):
    """A search that cannot be run as given (the message says which field and why)."""


@dataclass(frozen=True)
class Search:
    """What to look for; empty fields match everything."""

    first_day: date | None = None
    last_day: date | None = None
    status: str = ""
    counselor_id: str = ""
    disposition: str = ""
    last_four: str = ""

    @classmethod
    def parse(cls, args: dict[str, str]) -> Search:
        """From a query string's ``from``, ``to``, ``status``, ``counselor``,
        ``disposition`` and ``last4``; SearchError says what is wrong."""
        try:
            first = date.fromisoformat(args["from"]) if args.get("from") else None
            last = date.fromisoformat(args["to"]) if args.get("to") else None
        except ValueError:
            raise SearchError("dates must look like 2024-05-31") from None
        if first and last and last < first:
            raise SearchError("the last day is before the first day")
        status = args.get("status", "")
        if status and status not in {s.value for s in LeadStatus}:
            raise SearchError("status: not a status a callback can have")
        disposition = args.get("disposition", "")
        if disposition and disposition not in {d.value for d in Disposition}:
            raise SearchError("disposition: not a disposition")
        last_four = re.sub(r"\D", "", args.get("last4", ""))
        if args.get("last4", "").strip() and len(last_four) != 4:
            raise SearchError("last four digits: give exactly four digits")
        return cls(first, last, status, args.get("counselor", "").strip(), disposition, last_four)

    def score_range(self, zone: tzinfo) -> tuple[float, float]:
        """Creation times (Unix s) the days cover, in ``zone``: [start, end)."""
        start = datetime.combine(self.first_day, time(0), zone).timestamp() if self.first_day else 0
        end = (
            datetime.combine(self.last_day + timedelta(days=1), time(0), zone).timestamp()
            if self.last_day
            else float("inf")
        )
        return start, end


@dataclass
class Page:
    """One page of results, and where the next (older) one starts."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    #: Creation time to continue before (exclusive), or None when nothing older is left.
    next_before: float | None = None
    #: Leads looked at for this page.
    scanned: int = 0
    #: True when the page stopped at MAX_SCAN before it was full.
    cut_short: bool = False


def search(
    r: Redis,
    wanted: Search,
    zone: tzinfo,
    before: float | None = None,
    page_size: int = PAGE_SIZE,
    max_scan: int = MAX_SCAN,
) -> Page:
    """The newest callbacks created before ``before`` that match ``wanted``."""
    start, end = wanted.score_range(zone)
    upper = end if before is None else min(end, before)
    page = Page()
    cursor = f"({upper}" if upper != float("inf") else "+inf"
    while page.scanned < max_scan:
        batch = r.zrevrangebyscore(
            keys.LEADS_BY_TIME,
            cursor,
            start,
            start=0,
            num=min(BATCH, max_scan - page.scanned),
            withscores=True,
        )
        if not batch:
            return page  # nothing older: next_before stays None
        pipe = r.pipeline(transaction=False)
        for lead_id, _ in batch:
            pipe.hgetall(keys.LEAD.format(lead_id))
            pipe.hgetall(keys.LEAD_DISPOSITION.format(lead_id))
            pipe.lrange(keys.LEAD_ATTEMPTS.format(lead_id), 0, -1)
        found = pipe.execute()
        for i, (_, score) in enumerate(batch):
            page.scanned += 1
            lead_data, disposition, attempts = found[3 * i : 3 * i + 3]
            row = _row(lead_data, disposition, attempts)
            if row is not None and _matches(row, lead_data, wanted):
                page.rows.append(row)
                if len(page.rows) == page_size:
                    page.next_before = score if _older_exist(r, score, start) else None
                    return page
        cursor = f"({batch[-1][1]}"
    last_score = float(cursor[1:])
    if _older_exist(r, last_score, start):
        page.next_before, page.cut_short = last_score, True
    return page


def _older_exist(r: Redis, score: float, start: float) -> bool:
    return bool(r.zrevrangebyscore(keys.LEADS_BY_TIME, f"({score}", start, start=0, num=1))


def _row(
    lead_data: dict[str, str], disposition: dict[str, str], raw_attempts: list[str]
) -> dict[str, Any] | None:
    if not lead_data or "id" not in lead_data:
        return None  # erased or never saved
    lead = Lead.from_redis(lead_data)
    attempts = [json.loads(a) for a in raw_attempts]
    counselors = list(dict.fromkeys(str(a["counselor"]) for a in attempts if a.get("counselor")))
    if disposition.get("counselor_id") and disposition["counselor_id"] not in counselors:
        counselors.append(disposition["counselor_id"])
    return {
        "id": lead.id,
        "created_at": lead.created_at,
        "phone": mask(lead.phone) if lead.phone else "",
        "status": lead.status,
        "language": lead.language,
        "insurance": lead.insurance,
        "priority": lead.priority,
        "attempts": lead.attempts,
        "counselor_ids": counselors,
        "disposition": disposition.get("value", ""),
    }


def _matches(row: dict[str, Any], lead_data: dict[str, str], wanted: Search) -> bool:
    if wanted.status and row["status"] != wanted.status:
        return False
    if wanted.disposition and row["disposition"] != wanted.disposition:
        return False
    if wanted.counselor_id and wanted.counselor_id not in row["counselor_ids"]:
        return False
    if wanted.last_four:
        digits = re.sub(r"\D", "", lead_data.get("phone", ""))
        if not digits.endswith(wanted.last_four):
            return False
    return True
