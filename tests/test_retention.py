"""Retention: RETENTION_DAYS after a lead was made its number and free text are erased (the
reports still count it), the audit log keeps AUDIT_RETENTION_DAYS, and the sweep does it."""

from __future__ import annotations

import re
import time
from datetime import date, datetime
from typing import Any

import pytest
import redis

from routing import keys, report_reading, retention, stats
from routing.ivr_outcomes import pending_field
from routing.leads import Lead, LeadStatus, get_lead, record_event
from settings import Settings
from tests.conftest import ZONE, AuthActions
from tests.records import save_lead
from workers import jobs
from workers.services import Services

DAY = 86400
NOW = time.time()
#: A number and how it may be written in free text; none may survive a purge.
PHONE = "+14155550142"
NUMBER = re.compile(r"555\D{0,6}0142")


def make_lead(
    r: redis.Redis,
    settings: Settings,
    lead_id: str,
    days_ago: float,
    status: LeadStatus = LeadStatus.CONNECTED,
    phone: str = PHONE,
) -> Lead:
    """A lead made ``days_ago`` with the keys a real one leaves: its call, its pending-lead
    key, a history (with free text), an attempt, a disposition note, daily counters."""
    at = NOW - days_ago * DAY
    area, exchange, line = phone[2:5], phone[5:8], phone[8:]
    lead = Lead(
        id=lead_id,
        call_sid=f"CA{lead_id:0>32}",
        phone=phone,
        language="es",
        situation="self",
        urgent=True,
        insurance="medicaid",
        first_call_at=at,
        created_at=at,
        status=status.value,
        attempts=1,
        status_reason=f"Twilio: 'To' number {phone} is not valid",
    )
    save_lead(r, lead)
    r.zadd(keys.LEADS_BY_TIME, {lead_id: at})
    r.set(keys.CALL_LEAD.format(lead.call_sid), lead_id)
    r.hset(keys.PENDING_LINKS, pending_field(settings, phone), lead_id)
    r.hset(keys.IVR_SESSION.format(lead.call_sid), mapping={"step": "done", "keyed": phone})
    events: list[tuple[str, dict[str, Any]]] = [
        ("call_received", {"call_sid": lead.call_sid}),
        ("waiting", {"ivr_abandoned": False}),
        ("dialing", {"reservation": "R1", "counselor": "C1"}),
        ("connected", {"reservation": "R1"}),
        ("removed", {"by": "sup", "reason": f"use ({area}) {exchange}-{line}"}),
    ]
    for i, (event, detail) in enumerate(events):
        r.rpush(keys.LEAD_EVENTS.format(lead_id), _entry(at + 60 * (i + 1), event, detail))
    r.rpush(keys.LEAD_ATTEMPTS.format(lead_id), '{"attempt": 1, "outcome": "connected"}')
    r.hset(
        keys.LEAD_DISPOSITION.format(lead_id),
        mapping={
            "value": "referred",
            "note": f"call {area}.{exchange}.{line} after 5",
            "by": "dana",
        },
    )
    stats.incr(r, ZONE, stats.LEADS_CREATED, at=at)
    stats.incr(r, ZONE, stats.CALLBACKS_CONNECTED, at=at + 240)
    return lead


def _entry(at: float, event: str, detail: dict[str, Any]) -> str:
    import json

    return json.dumps({"at": at, "event": event, **detail})


def everything(r: redis.Redis) -> str:
    """Every key and value in the database, as text (the purge's own record aside)."""
    out = []
    for key in sorted(r.scan_iter()):
        if key.startswith(keys.PREFIX + "retention:"):
            continue
        kind = r.type(key)
        if kind == "string":
            value: Any = r.get(key)
        elif kind == "hash":
            value = r.hgetall(key)
        elif kind == "list":
            value = r.lrange(key, 0, -1)
        elif kind in ("set",):
            value = r.smembers(key)
        elif kind == "zset":
            value = r.zrange(key, 0, -1)
        else:
            value = r.xrange(key)
        out.append(f"{key} {value}")
    return "\n".join(out)


def day_of(days_ago: float) -> date:
    return datetime.fromtimestamp(NOW - days_ago * DAY, ZONE).date()


def report_for(r: redis.Redis, settings: Settings, day: date) -> dict[str, Any]:
    return report_reading.report(
        r, day, day, settings.service_level_seconds, NOW, settings.report_time_zone
    ).as_dict()


def test_purge_erases_number_and_free_text_and_keeps_the_reports(
    r: redis.Redis, settings: Settings
) -> None:
    old = make_lead(r, settings, "L000001", days_ago=120)
    make_lead(r, settings, "L000002", days_ago=91, status=LeadStatus.UNREACHABLE)
    recent = make_lead(r, settings, "L000003", days_ago=10, phone="+12125550123")
    days = [day_of(120), day_of(91)]
    before = [report_for(r, settings, d) for d in days]
    assert before[0]["leads"] == 1 and before[0]["callbacks_connected"] == 1

    run = retention.purge(r, settings, now=NOW)

    assert run.purged == 2
    assert [report_for(r, settings, d) for d in days] == before
    assert NUMBER.findall(everything(r)) == [], "a number survived the purge"
    purged = get_lead(r, old.id)
    assert purged is not None
    assert (purged.phone, purged.call_sid, purged.status_reason) == ("", "", "")
    # What the reports break counts down by stays.
    assert (purged.language, purged.insurance, purged.priority) == ("es", "medicaid", "urgent")
    assert (purged.created_at, purged.first_call_at) == (old.created_at, old.first_call_at)
    assert r.hget(keys.LEAD.format(old.id), "purged_at") == repr(NOW)
    assert not r.exists(keys.CALL_LEAD.format(old.call_sid), keys.IVR_SESSION.format(old.call_sid))
    history = r.lrange(keys.LEAD_EVENTS.format(old.id), 0, -1)
    assert len(history) == 5 and '"reason"' not in "".join(history)
    assert "CA" not in "".join(history)
    assert r.hget(keys.LEAD_DISPOSITION.format(old.id), "note") == ""
    assert r.hget(keys.LEAD_DISPOSITION.format(old.id), "value") == "referred"
    # The recent lead keeps everything.
    kept = get_lead(r, recent.id)
    assert kept is not None and kept.phone == "+12125550123"
    assert r.exists(keys.CALL_LEAD.format(recent.call_sid))


def test_purge_is_idempotent(r: redis.Redis, settings: Settings) -> None:
    make_lead(r, settings, "L000001", days_ago=100)
    assert retention.purge(r, settings, now=NOW).purged == 1
    snapshot = everything(r)
    second = retention.purge(r, settings, now=NOW + 5)
    assert second.purged == 0
    assert everything(r) == snapshot
    assert retention.purge_lead(r, settings, "L000001", NOW) is retention.Outcome.ALREADY


def test_purge_bounds_its_work_per_run(r: redis.Redis, settings: Settings) -> None:
    for i in range(5):
        make_lead(r, settings, f"L00000{i}", days_ago=200 - i)
    runs = [retention.purge(r, settings, now=NOW, batch=2).purged for _ in range(4)]
    assert runs == [2, 2, 1, 0]
    assert NUMBER.findall(everything(r)) == []


def test_a_caller_still_owed_a_callback_is_purged_once_settled(
    r: redis.Redis, settings: Settings
) -> None:
    lead = make_lead(r, settings, "L000001", days_ago=95, status=LeadStatus.DEFERRED)
    first = retention.purge(r, settings, now=NOW)
    assert (first.purged, first.held) == (0, 1)
    assert get_lead(r, lead.id).phone == PHONE  # type: ignore[union-attr]
    r.hset(keys.LEAD.format(lead.id), "status", LeadStatus.CONNECTED.value)
    record_event(r, lead.id, "connected")
    second = retention.purge(r, settings, now=NOW)
    assert (second.purged, second.held) == (1, 0)
    assert NUMBER.findall(everything(r)) == []


def test_audit_log_is_trimmed_to_its_retention(r: redis.Redis, settings: Settings) -> None:
    assert settings.audit_retention_days == 2190  # six years
    for days_ago in (2200, 2191, 2100, 1):
        ms = int((NOW - days_ago * DAY) * 1000)
        r.xadd(keys.AUDIT, {"action": "read", "lead": "L000001", "who": "x"}, id=f"{ms}-0")
    run = retention.purge(r, settings, now=NOW)
    assert run.audit_trimmed == 2
    assert r.xlen(keys.AUDIT) == 2


def test_audit_entries_hold_no_number(
    r: redis.Redis, settings: Settings, auth: AuthActions, client: Any
) -> None:
    lead = make_lead(r, settings, "L000001", days_ago=1, status=LeadStatus.WAITING)
    auth.as_role("admin")
    for path in (f"/dashboard/leads/{lead.id}", f"/api/leads/{lead.id}"):
        client.get(path)
    entries = r.xrange(keys.AUDIT)
    assert entries, "reading a lead is audited"
    assert NUMBER.findall(str(entries)) == []


def test_sweep_purges_and_admin_page_reports_it(
    r: redis.Redis, settings: Settings, services: Services, auth: AuthActions, client: Any
) -> None:
    page = client.get("/admin/")
    make_lead(r, settings, "L000001", days_ago=100)
    make_lead(r, settings, "L000002", days_ago=100)
    done = jobs.sweep_now(services, now=NOW)
    assert done["purged"] == 2
    auth.as_role("admin")
    page = client.get("/admin/").get_data(as_text=True)
    line = re.search(r'<p id="retention">(.*?)</p>', page, re.DOTALL)
    assert line, page
    assert "90 days" in line.group(1) and "2190 days" in line.group(1)
    assert "Last purge" in line.group(1) and "2 callbacks purged" in line.group(1)


@pytest.mark.parametrize(
    ("variable", "value"), [("RETENTION_DAYS", "0"), ("AUDIT_RETENTION_DAYS", "ninety")]
)
def test_retention_settings_are_checked(env: dict[str, str], variable: str, value: str) -> None:
    from settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=variable):
        load_settings({**env, variable: value})


def test_leads_made_in_the_same_instant_are_each_purged_once(
    r: redis.Redis, settings: Settings
) -> None:
    for i in range(5):
        make_lead(r, settings, f"L00000{i}", days_ago=100)
    runs = [retention.purge(r, settings, now=NOW, batch=2).purged for _ in range(4)]
    assert runs == [2, 2, 1, 0]
