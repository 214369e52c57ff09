"""Counselors, calling hours and pacing: the small pieces routing stands on."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from routing import counselors as cs
from routing import hours, keys
from routing.counselors import all_idle_keys
from routing.leads import Lead
from routing.queue import estimate_wait_seconds
from settings import parse_calling_hours
from workers import pacing


def idle_sets_of(r: redis.Redis, counselor_id: str) -> set[str]:
    return {k for k in all_idle_keys() if r.zscore(k, counselor_id) is not None}


def test_generalist_joins_every_insurance_set_of_each_language(r: redis.Redis) -> None:
    c = cs.create_counselor(r, "Ana", "+13125550199", ["en", "es"])
    assert idle_sets_of(r, c.id) == set()
    assert cs.make_available(r, c, now=100.0)
    assert idle_sets_of(r, c.id) == set(all_idle_keys())  # 2 x 6 + 2 "any"
    assert r.zscore(keys.IDLE.format("es", "any"), c.id) == 100.0


def test_specialist_joins_only_their_insurance(r: redis.Redis) -> None:
    c = cs.create_counselor(r, "Bo", "+13125550198", ["es"], ["medicaid", "medicare"])
    cs.make_available(r, c)
    assert idle_sets_of(r, c.id) == {
        keys.IDLE.format("es", "medicaid"),
        keys.IDLE.format("es", "medicare"),
        keys.IDLE.format("es", "any"),
    }


def test_offline_leaves_every_idle_set_and_keeps_the_reason(r: redis.Redis) -> None:
    c = cs.create_counselor(r, "Ana", "+13125550199", ["en"])
    cs.make_available(r, c)
    assert cs.make_offline(r, c, "lunch")
    stored = cs.get_counselor(r, c.id)
    assert stored.status == "offline" and stored.status_reason == "lunch"
    assert idle_sets_of(r, c.id) == set()


def test_a_retired_counselor_leaves_rotation_and_every_list(r: redis.Redis) -> None:
    c = cs.create_counselor(r, "Ana", "+13125550199", ["en"])
    stays = cs.create_counselor(r, "Bo", "+13125550198", ["en"])
    cs.make_available(r, c)
    assert cs.retire_counselor(r, c)
    assert idle_sets_of(r, c.id) == set()
    assert [x.id for x in cs.list_counselors(r)] == [stays.id]
    kept = cs.get_counselor(r, c.id)  # lead histories still name them
    assert (kept.name, kept.status) == ("Ana", "retired")
    assert not cs.make_available(r, kept)  # a retired counselor cannot be dialed again
    assert idle_sets_of(r, c.id) == set()
    assert cs.retire_counselor(r, kept)  # twice is not an error


def test_a_counselor_on_a_call_cannot_be_retired(r: redis.Redis) -> None:
    c = cs.create_counselor(r, "Ana", "+13125550199", ["en"])
    assert cs.set_state(r, c, ("offline",), "on_call", reservation="R000001")
    assert not cs.retire_counselor(r, c)
    assert [x.id for x in cs.list_counselors(r)] == [c.id]
    assert cs.get_counselor(r, c.id).status == "on_call"


@pytest.mark.parametrize(
    ("languages", "insurance", "word"),
    [
        ([], [], "languages"),
        (["fr"], [], "languages"),
        (["en"], ["gold"], "insurance"),
    ],
)
def test_invalid_skills_are_refused(
    r: redis.Redis, languages: list[str], insurance: list[str], word: str
) -> None:
    with pytest.raises(cs.CounselorError, match=word):
        cs.create_counselor(r, "X", "+13125550199", languages, insurance)


def test_public_view_masks_the_number(r: redis.Redis) -> None:
    c = cs.create_counselor(r, "Ana", "+13125550199", ["en"])
    assert c.public()["phone"] == "***99"
    assert [x.id for x in cs.list_counselors(r)] == [c.id]


def test_wrap_up_ends_into_available(r: redis.Redis) -> None:
    c = cs.create_counselor(r, "Ana", "+13125550199", ["en"])
    assert cs.set_state(r, c, ("offline",), "wrap_up", now=10.0, wrapup_until=70.0)
    assert cs.due_wrapups(r, 69.0) == []
    assert cs.due_wrapups(r, 70.0) == [c.id]
    assert cs.end_wrapup(r, c.id, now=70.0)
    assert cs.get_counselor(r, c.id).status == "available"
    assert r.zscore(keys.WRAPUPS, c.id) is None
    assert not cs.end_wrapup(r, c.id)  # a second end changes nothing


# --- Calling hours ----------------------------------------------------------------------

NY = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, *args: int) -> float:
    return datetime(*args, tzinfo=zone).timestamp()


def lead(first_call_at: float, attempts: int = 0, phone: str = "+12125550123") -> Lead:
    return Lead(
        id="L1", call_sid="CA1", phone=phone, first_call_at=first_call_at, attempts=attempts
    )


def test_inside_and_outside_hours_in_the_callers_zone() -> None:
    window = parse_calling_hours("08:00-21:00")
    zones = [NY]
    assert hours.inside(window, zones, at(NY, 2026, 3, 2, 8, 0))
    assert not hours.inside(window, zones, at(NY, 2026, 3, 2, 21, 0))
    assert not hours.inside(window, zones, at(NY, 2026, 3, 2, 7, 59))


def test_next_opening_is_the_next_local_start() -> None:
    window = parse_calling_hours("08:00-21:00")
    late = at(NY, 2026, 3, 2, 22, 30)
    assert hours.next_opening(window, [NY], late) == at(NY, 2026, 3, 3, 8, 0)


def test_a_number_spanning_two_zones_waits_for_both() -> None:
    window = parse_calling_hours("08:00-21:00")
    chicago = ZoneInfo("America/Chicago")
    # 08:30 in New York is 07:30 in Chicago: not yet.
    early = at(NY, 2026, 3, 2, 8, 30)
    assert not hours.inside(window, [NY, chicago], early)
    assert hours.next_opening(window, [NY, chicago], early) == at(chicago, 2026, 3, 2, 8, 0)


def test_recent_first_caller_is_called_even_at_night() -> None:
    window = parse_calling_hours("08:00-21:00")
    night = at(NY, 2026, 3, 2, 23, 0)
    assert hours.may_call(lead(night - 600), window, night)
    assert not hours.may_call(lead(night - 2 * 3600), window, night)
    assert not hours.may_call(lead(night - 600, attempts=1), window, night)  # a retry waits
    assert hours.next_call_time(lead(night - 7200), window, night) == at(NY, 2026, 3, 3, 8, 0)


def test_caller_zone_comes_from_the_number() -> None:
    window = parse_calling_hours("08:00-21:00")
    # 09:00 in New York is 06:00 in Los Angeles: a 213 number must wait.
    morning = at(NY, 2026, 3, 2, 9, 0)
    assert hours.may_call(lead(0, phone="+12125550123"), window, morning)
    assert not hours.may_call(lead(0, phone="+12135550123"), window, morning)


# --- Pacing and estimates -----------------------------------------------------------------


def test_pacing_hands_out_one_slot_per_interval(r: redis.Redis) -> None:
    now = 1000.0
    waits = [pacing.reserve_slot(r, 2.0, now=now) for _ in range(4)]
    assert waits == [0.0, 0.5, 1.0, 1.5]
    assert pacing.reserve_slot(r, 2.0, now=now + 10) == 0.0


def test_pacing_sleeps_for_its_slot(r: redis.Redis) -> None:
    slept: list[float] = []
    now = time.time()
    r.set(keys.PACING, repr(now + 100))
    pacing.wait_for_slot(r, 1.0, sleep=slept.append)
    assert len(slept) == 1 and 99 < slept[0] <= 100


def test_wait_estimate_uses_counselors_working_and_handle_times(r: redis.Redis) -> None:
    assert estimate_wait_seconds(r, 3) == 3 * 600  # nobody working: one handle time each
    for i in range(3):
        c = cs.create_counselor(r, f"C{i}", f"+1312555019{i}", ["en"])
        cs.make_available(r, c)
    r.lpush(keys.HANDLE_TIMES, 300, 300)
    assert estimate_wait_seconds(r, 3) == 60  # three free counselors: about a minute
    assert estimate_wait_seconds(r, 6) == (6 - 3) * 300 // 3  # three ahead beyond the free
    assert estimate_wait_seconds(r, 0) == 60
    # One of them on a call (working, not free), one retired, one offline: one free of two.
    on_call, retired, away = cs.list_counselors(r)
    assert cs.set_state(r, on_call, ("available",), "on_call", reservation="R000001")
    assert cs.retire_counselor(r, retired)
    assert cs.make_offline(r, away)
    assert estimate_wait_seconds(r, 3) == 3 * 300  # nobody free: a handle time each, 1 working
    assert cs.make_available(r, away)
    assert estimate_wait_seconds(r, 3) == (3 - 1) * 300 // 2
