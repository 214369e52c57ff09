"""Atomic matching: priority with aging, language, insurance preference and widening,
longest idle first, and never a double assignment."""

from __future__ import annotations

import itertools

import pytest
import redis

from routing import counselors as cs
from routing import keys
from routing.leads import Lead, LeadStatus, get_lead
from routing.matching import match
from routing.queue import add_waiting, position
from routing.reservation import get_reservation
from settings import Settings
from tests.records import save_lead

NOW = 1_800_000_000.0


def queue_lead(
    r: redis.Redis,
    settings: Settings,
    lead_id: str,
    *,
    age: float = 0,
    language: str = "en",
    insurance: str = "ppo",
    urgent: bool = False,
    situation: str = "other",
) -> Lead:
    """A lead in line that first called ``age`` seconds before NOW."""
    lead = Lead(
        id=lead_id,
        call_sid="CA" + lead_id,
        phone="+12125550100",
        language=language,
        insurance=insurance,
        urgent=urgent,
        situation=situation,
        first_call_at=NOW - age,
        created_at=NOW - age,
    )
    save_lead(r, lead)
    add_waiting(r, settings, lead)
    r.hset(keys.LEAD.format(lead_id), "queued_at", repr(NOW - age))
    return lead


PHONES = itertools.count(100)


def available(
    r: redis.Redis,
    name: str,
    *,
    languages: tuple[str, ...] = ("en",),
    insurance: tuple[str, ...] = (),
    idle_at: float = NOW - 10,
) -> cs.Counselor:
    """A counselor made available at ``idle_at``."""
    phone = f"+1312555{next(PHONES):04d}"  # each counselor a number of their own
    c = cs.create_counselor(r, name, phone, list(languages), list(insurance))
    assert cs.make_available(r, c, now=idle_at)
    return c


def pairs(r: redis.Redis, rids: list[str]) -> set[tuple[str, str]]:
    out = set()
    for rid in rids:
        res = get_reservation(r, rid)
        assert res is not None
        out.add((res.lead_id, res.counselor_id))
    return out


def test_longest_waiting_goes_to_longest_idle(r: redis.Redis, settings: Settings) -> None:
    queue_lead(r, settings, "L1", age=30)
    queue_lead(r, settings, "L2", age=60)
    newer = available(r, "Newer", idle_at=NOW - 5)
    older = available(r, "Older", idle_at=NOW - 50)
    rid = match(r, settings, now=NOW, limit=1)
    assert pairs(r, rid) == {("L2", older.id)}
    assert pairs(r, match(r, settings, now=NOW)) == {("L1", newer.id)}
    assert get_lead(r, "L1").status == LeadStatus.RESERVED.value
    assert cs.get_counselor(r, newer.id).status == "reserved"
    assert position(r, "L1") is None
    assert r.zscore(keys.LEASES, rid[0]) == pytest.approx(NOW + settings.lease_seconds)


def test_urgent_head_start_but_aging_prevents_starvation(
    r: redis.Redis, settings: Settings
) -> None:
    queue_lead(r, settings, "OLD", age=settings.urgent_head_start + 60)
    queue_lead(r, settings, "URG", age=10, urgent=True)
    queue_lead(r, settings, "NEW", age=20)
    a = available(r, "A")
    assert pairs(r, match(r, settings, now=NOW, limit=1)) == {("OLD", a.id)}
    available(r, "B")
    assert {p[0] for p in pairs(r, match(r, settings, now=NOW, limit=1))} == {"URG"}


def test_language_is_required(r: redis.Redis, settings: Settings) -> None:
    queue_lead(r, settings, "ES", language="es", age=500)
    available(r, "English only")
    for _ in range(3):  # the sweep matches again and again while nobody can take the call
        assert match(r, settings, now=NOW) == []
    assert r.get(keys.RESERVATION_SEQ) is None  # no reservation id minted for no pair
    spanish = available(r, "Bilingual", languages=("en", "es"))
    assert pairs(r, match(r, settings, now=NOW)) == {("ES", spanish.id)}


def test_specialist_preferred_then_widened(r: redis.Redis, settings: Settings) -> None:
    queue_lead(r, settings, "L1", insurance="medicaid", age=10)
    hmo = available(r, "HMO specialist", insurance=("hmo",), idle_at=NOW - 500)
    assert match(r, settings, now=NOW) == [], "not widened yet"
    later = NOW + settings.widen_after_seconds
    assert pairs(r, match(r, settings, now=later)) == {("L1", hmo.id)}


def test_specialist_or_generalist_beats_other_specialist(
    r: redis.Redis, settings: Settings
) -> None:
    queue_lead(r, settings, "L1", insurance="medicaid", age=1000)
    available(r, "PPO", insurance=("ppo",), idle_at=NOW - 900)
    med = available(r, "Medicaid", insurance=("medicaid", "medicare"), idle_at=NOW - 100)
    assert pairs(r, match(r, settings, now=NOW, limit=1)) == {("L1", med.id)}


def test_best_callback_that_has_a_counselor(r: redis.Redis, settings: Settings) -> None:
    queue_lead(r, settings, "ES", language="es", age=900)
    queue_lead(r, settings, "EN", language="en", age=100)
    en = available(r, "EN")
    assert pairs(r, match(r, settings, now=NOW)) == {("EN", en.id)}
    assert get_lead(r, "ES").status == "waiting"


def test_offline_and_busy_counselors_are_not_matched(r: redis.Redis, settings: Settings) -> None:
    queue_lead(r, settings, "L1")
    c = available(r, "A")
    assert cs.make_offline(r, c, "break")
    assert match(r, settings, now=NOW) == []
    assert all(r.zscore(k, c.id) is None for k in cs.all_idle_keys())


def test_stale_members_are_skipped(r: redis.Redis, settings: Settings) -> None:
    queue_lead(r, settings, "GONE", age=100)
    r.hset(keys.LEAD.format("GONE"), "status", "cancelled")
    queue_lead(r, settings, "L2", age=10)
    c = available(r, "A")
    assert pairs(r, match(r, settings, now=NOW)) == {("L2", c.id)}
    assert r.zscore(keys.WAITING_ALL, "GONE") is None


def test_many_at_once_never_double(r: redis.Redis, settings: Settings) -> None:
    for i in range(30):
        queue_lead(r, settings, f"L{i:02d}", age=i, insurance=("ppo", "hmo", "none")[i % 3])
    team = [available(r, f"C{i}", idle_at=NOW - i) for i in range(12)]
    rids = match(r, settings, now=NOW)
    got = pairs(r, rids)
    assert len(got) == 12
    assert len({lead for lead, _ in got}) == 12
    assert {c for _, c in got} == {c.id for c in team}
    assert match(r, settings, now=NOW) == []


def test_cost_does_not_depend_on_queue_length(r: redis.Redis, settings: Settings) -> None:
    """Matching reads only heads: with many waiting it still touches a bounded number of
    keys (counted with Redis's own command statistics, not timed)."""
    pipe = r.pipeline(transaction=False)
    for i in range(5000):
        pipe.zadd(keys.WAITING.format("en", "none"), {f"X{i}": NOW + i})
        pipe.zadd(keys.WAITING_ALL, {f"X{i}": NOW + i})
        pipe.hset(
            keys.LEAD.format(f"X{i}"),
            mapping={"id": f"X{i}", "status": "waiting", "first_call_at": NOW},
        )
    pipe.execute()
    available(r, "A")
    r.config_resetstat()
    assert len(match(r, settings, now=NOW)) == 1
    calls = r.info("commandstats")
    zrange_calls = calls.get("cmdstat_zrange", {}).get("calls", 0)
    assert 0 < zrange_calls < 100


def test_a_free_counselor_behind_those_still_hanging_up_is_matched(
    r: redis.Redis, settings: Settings
) -> None:
    """Matching reads a few counselors at each idle set's head first; when every one of
    them is still hanging up from our last call, it reads deeper and finds the free one."""
    from routing.matching import FIRST_PEEK

    hanging_up = [
        available(r, f"Hanging up {i}", idle_at=NOW - 100 + i) for i in range(FIRST_PEEK + 2)
    ]
    for c in hanging_up:
        r.hset(keys.COUNSELOR.format(c.id), "leg_until", repr(NOW + 30))
    free = available(r, "Free", idle_at=NOW - 50)
    queue_lead(r, settings, "L1")
    assert pairs(r, match(r, settings, now=NOW)) == {("L1", free.id)}
    # Once they have hung up, the longest idle of them is next.
    queue_lead(r, settings, "L2")
    assert pairs(r, match(r, settings, now=NOW + 31)) == {("L2", hanging_up[0].id)}
