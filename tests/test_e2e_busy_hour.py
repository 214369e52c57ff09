"""A busy hour, compressed: a few hundred callers, a handful of counselors, mixed outcomes on
both sides, through the served app, real workers and the stand-in. Checks the invariants:
no lead lost, every lead final or waiting in order, no counselor on two calls, no caller
dialed twice at once, urgent callers offered first."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from routing import keys
from routing.leads import Lead, get_lead
from tests.conftest import wait_until
from tests.served import Line
from twilio_standin import HANG_UP, Script
from twilio_standin.simulate import plan_counselor

pytestmark = pytest.mark.e2e

CALLERS = 240
COUNSELORS = 6
#: Real seconds the whole scenario may take before the invariants are checked.
BUDGET = 70
FINAL = {"connected", "unreachable", "failed", "cancelled", "removed"}
PENDING = {"waiting", "retry_wait", "reserved", "deferred", "intake"}


def caller(rng: random.Random) -> tuple[tuple[str | None, ...], list[Script], bool]:
    """IVR keys, the phone's behaviour on each callback, and whether they are urgent."""
    urgent = rng.random() < 0.3
    ivr: tuple[str | None, ...] = (
        rng.choice("12"),
        rng.choice("12"),
        "1" if urgent else "2",
        rng.choice("123456"),
        "1",
    )
    if rng.random() < 0.04:
        ivr = ivr[:2] + (HANG_UP,)  # leaves mid-menu: still a lead, urgency unknown
        urgent = False
    roll = rng.random()
    talk = Script.answers(talk_seconds=rng.uniform(20, 90))
    if roll < 0.10:
        callbacks = [Script.busy(), talk]
    elif roll < 0.20:
        callbacks = [Script.rings_out(), talk]
    elif roll < 0.25:
        callbacks = [Script.voicemail(), talk]
    elif roll < 0.30:
        callbacks = [Script.busy()]  # never reached: unreachable after every attempt
    else:
        callbacks = [talk]
    return ivr, callbacks, urgent


def overlaps(legs: list[Any]) -> list[str]:
    """Pairs of legs to the same number that were live at the same time."""
    found = []
    by_number: dict[str, list[Any]] = defaultdict(list)
    for leg in legs:
        if leg.direction != "inbound":
            by_number[leg.to].append(leg)
    for calls in by_number.values():
        calls.sort(key=lambda c: c.created_at)
        for before, after in zip(calls, calls[1:], strict=False):
            if before.end_time is None or before.end_time > after.created_at:
                said = before.said()[-1:] or ["(nothing said)"]
                found.append(
                    f"{before.sid} ({before.direction}, last said {said[0]!r}) and "
                    f"{after.sid} to ***{after.to[-2:]}"
                )
    return found


def test_busy_hour_keeps_every_invariant(start_line: Callable[..., Line]):
    line = start_line(
        worker_count=3,
        speed=200.0,
        MAX_MISSED_OFFERS="50",
        WRAPUP_SECONDS="1",
        CALLER_RING_SECONDS="15",
        COUNSELOR_RING_SECONDS="10",
    )
    rng = random.Random(20261130)
    for i in range(COUNSELORS):
        line.counselor(
            f"C{i}", f"+1212555{1000 + i}", plan_counselor(rng, offers=400, talk=(20, 90))
        )
    numbers = [f"+1415{rng.randint(2000000, 9999999)}" for _ in range(CALLERS)]
    assert len(set(numbers)) == CALLERS
    plans = {number: caller(rng) for number in numbers}
    inbound: dict[str, Any] = {}
    started = time.monotonic()

    def arrive() -> None:
        for number in numbers:
            ivr, callbacks, _ = plans[number]
            inbound[number] = line.calls_in(number, ivr, *callbacks)
            time.sleep(rng.uniform(0, 0.08))  # about 240 calls in 10 s

    arrivals = threading.Thread(target=arrive)
    arrivals.start()
    arrivals.join()

    def lead_ids() -> dict[str, str | None]:
        return {n: line.r.get(keys.CALL_LEAD.format(c.sid)) for n, c in inbound.items()}

    # Every call that ended in the IVR has become a lead: none lost.
    wait_until(lambda: all(c.is_final for c in inbound.values()), 40, interval=0.2)
    ids = wait_until(lambda: (lambda m: m if all(m.values()) else None)(lead_ids()), 10)

    def all_settled() -> bool:
        statuses = [get_lead(line.r, i).status for i in ids.values()]  # type: ignore[union-attr,arg-type]
        return all(s in FINAL for s in statuses)

    try:
        wait_until(all_settled, max(5.0, BUDGET - (time.monotonic() - started)), interval=0.5)
    except AssertionError:
        pass  # what is still pending is checked for order below
    elapsed = time.monotonic() - started
    # One snapshot, read in a single MULTI, of every lead and the waiting line: the workers
    # keep running (a retry can come back into line at any moment), so reading the two
    # separately would compare different instants.
    snapshot = line.r.pipeline(transaction=True)
    for lead_id in ids.values():
        snapshot.hgetall(keys.LEAD.format(lead_id))
    snapshot.zrange(keys.WAITING_ALL, 0, -1, withscores=True)
    *hashes, waiting_line = snapshot.execute()
    assert all(hashes), "a lead was lost"
    leads = {n: Lead.from_redis(h) for n, h in zip(ids, hashes, strict=True)}
    statuses = {n: lead.status for n, lead in leads.items()}  # type: ignore[union-attr]
    counts: dict[str, int] = defaultdict(int)
    for status in statuses.values():
        counts[status] += 1
    print(
        f"\nbusy hour: {CALLERS} callers, {COUNSELORS} counselors, {elapsed:.1f}s real: "
        f"{dict(counts)}; stand-in legs {len(line.standin.legs)}"
    )

    # Every lead is final or pending; the waiting ones are exactly the waiting line, in
    # the order of their fixed scores.
    assert set(statuses.values()) <= FINAL | PENDING, counts
    waiting = dict(waiting_line)
    waiting_leads = {lead.id for lead in leads.values() if lead.status == "waiting"}  # type: ignore[union-attr]
    assert set(waiting) == waiting_leads
    settings_like = line.workers.env
    for lead in leads.values():
        if lead.id in waiting:  # type: ignore[union-attr]
            expected = lead.queue_score(  # type: ignore[union-attr]
                int(settings_like.get("URGENT_HEAD_START", 1800)),
                int(settings_like.get("SELF_HEAD_START", 600)),
            )
            assert waiting[lead.id] == pytest.approx(expected)  # type: ignore[union-attr]
    # Callbacks got through (how many depends on the machine, so no rate is asserted).
    assert counts["connected"] > 0, counts

    # Nobody on two calls at once: no counselor double-booked, no caller dialed twice.
    line.settle()
    broken: list[str] = []
    overlapping = overlaps(line.standin.legs)
    if overlapping:
        broken.append(f"{len(overlapping)} overlapping legs, e.g. " + "; ".join(overlapping[:3]))
    if line.standin.webhook_errors:
        broken.append(f"webhooks failed: {line.standin.webhook_errors[:3]}")
    connected_events = defaultdict(int)
    for lead in leads.values():
        for event in line.r.lrange(keys.LEAD_EVENTS.format(lead.id), 0, -1):  # type: ignore[union-attr]
            if '"event": "connected"' in event:
                connected_events[lead.id] += 1  # type: ignore[union-attr]
    if max(connected_events.values(), default=0) > 1:
        broken.append("a lead connected twice")

    # Urgent callers are offered first: when a non-urgent lead got its first offer, no
    # urgent lead that had been waiting (a second's margin for the race with intake) was
    # still without one. Every counselor here serves every language and insurance.
    # The workers are still matching: only offers made before the scan starts are judged
    # (SCAN returns every key that exists for its whole run, not those created meanwhile).
    scan_started = time.time()
    first_offer: dict[str, float] = {}
    for key in line.r.scan_iter(keys.RESERVATION.format("*")):
        res = line.r.hgetall(key)
        lead_id, at = res.get("lead_id"), float(res.get("created_at") or 0)
        if lead_id and (lead_id not in first_offer or at < first_offer[lead_id]):
            first_offer[lead_id] = at
    queued_at: dict[str, float] = {}
    for lead in leads.values():
        for raw in line.r.lrange(keys.LEAD_EVENTS.format(lead.id), 0, -1):  # type: ignore[union-attr]
            if '"event": "waiting"' in raw:
                queued_at.setdefault(lead.id, json.loads(raw)["at"])  # type: ignore[union-attr]
    urgent = [lead for lead in leads.values() if lead.urgent]  # type: ignore[union-attr]
    late = []
    for lead in leads.values():
        if lead.urgent or first_offer.get(lead.id, scan_started) >= scan_started:
            continue
        offered = first_offer[lead.id]
        for u in urgent:
            if (
                queued_at.get(u.id, offered) < offered - 1.0
                and first_offer.get(u.id, float("inf")) > offered
            ):
                late.append((u.id, lead.id))  # type: ignore[union-attr]
    if late:
        broken.append(f"{len(late)} urgent leads passed over, e.g. {late[:3]}")
    assert broken == [], "\n".join(broken)
