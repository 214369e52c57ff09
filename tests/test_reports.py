"""Report numbers: percentiles, service level, by hour, spans of days, CSV."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from redis import Redis

from routing import report_reading, reports, stats
from routing.leads import record_event
from routing.reports import LeadOutcome
from tests.conftest import ZONE, AuthActions, Floor

DAY = date(2026, 3, 2)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()  # 09:00 UTC


def outcome(
    n: int, ttc: float | None, status: str = "connected", at: float = T0, abandoned: bool = False
) -> LeadOutcome:
    return LeadOutcome(f"L{n}", at, at, status, abandoned, None if ttc is None else at + ttc)


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 90, None),
        ([5], 90, 5),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, 9),
        ([10, 1, 5], 50, 5),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90, 10),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], pct: float, expected: float) -> None:
    assert reports.percentile(values, pct) == expected


@pytest.mark.parametrize(("values", "expected"), [([], None), ([3, 1, 2], 2), ([4, 1, 3, 2], 2.5)])
def test_median(values: list[float], expected: float | None) -> None:
    assert reports.median(values) == expected


def test_service_level_counts_only_decided_leads() -> None:
    now = T0 + 3600
    outcomes = [
        outcome(1, 300),  # met
        outcome(2, 1200),  # connected late: miss
        outcome(3, None, "unreachable"),  # waited past the target: miss
        outcome(4, None, "waiting", at=now - 60),  # still inside the target: undecided
        outcome(5, None, "intake", abandoned=True),  # never queued
    ]
    level, decided = reports.service_level(outcomes, 900, now)
    assert (level, decided) == (pytest.approx(1 / 3), 3)
    assert reports.service_level([], 900, now) == (None, 0)


def test_by_hour_places_leads_and_connections_in_the_call_centers_hours() -> None:
    outcomes = [outcome(1, 600), outcome(2, 3600), outcome(3, None, "waiting")]
    rows = reports.by_hour(outcomes, UTC)
    assert rows[9].leads == 3
    assert (rows[9].connected, rows[9].median_seconds) == (1, 600)
    assert (rows[10].connected, rows[10].median_seconds) == (1, 3600)
    assert sum(r.leads for r in rows) == 3
    # 09:00 UTC on 2 March is 04:00 in New York (EST).
    rows = reports.by_hour(outcomes, ZoneInfo("America/New_York"))
    assert (rows[4].leads, rows[4].connected, rows[5].connected) == (3, 1, 1)


def test_report_combines_counters_and_outcomes() -> None:
    counters = {
        DAY: {
            stats.CALLS_RECEIVED: 7,
            stats.LEADS_CREATED: 4,
            stats.IVR_ABANDONED: 1,
            stats.CALLBACKS_CONNECTED: 2,
            stats.UNREACHABLE: 1,
        }
    }
    outs = [outcome(1, 120), outcome(2, 2000), outcome(3, None, "unreachable")]
    rep = reports.build_report(DAY, DAY, counters, outs, 900, T0 + 86400, UTC)
    assert (rep.calls_received, rep.leads, rep.abandoned_in_ivr) == (7, 4, 1)
    assert (rep.callbacks_connected, rep.unreachable) == (2, 1)
    assert rep.median_seconds == 1060 and rep.p90_seconds == 2000
    assert rep.service_level == pytest.approx(1 / 3)
    rows = reports.csv_rows(rep)
    assert rows[0][0] == "day" and rows[1][:3] == ["2026-03-02", "7", "4"]
    assert rows[1][rows[0].index("service_level")] == "0.333"


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("2026-13-01", None, "look like"),
        ("2026-03-05", "2026-03-01", "before"),
        ("2026-03-01", "2026-03-09", "future"),
        ("2025-01-01", "2026-03-01", "at most"),
    ],
)
def test_bad_spans_are_refused_with_a_reason(first: str, last: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reports.parse_span(first, last, today=date(2026, 3, 8))


def test_report_reads_redis(r: Redis, floor: Floor) -> None:
    lead = floor.caller_waiting(ago=600)
    record_event(r, lead.id, "connected", reservation="R000001", counselor="C0001")
    stats.incr(r, ZONE, stats.CALLS_RECEIVED)
    today = datetime.now(ZONE).date()
    rep = report_reading.report(r, today, today, 900, lead.created_at + 3600, ZONE)
    assert rep.calls_received == 1
    assert rep.median_seconds is not None and 590 <= rep.median_seconds <= 700
    assert rep.service_level == 1.0


def test_reports_page_and_csv(auth: AuthActions, client: FlaskClient, r: Redis) -> None:
    auth.as_role("supervisor")
    stats.incr(r, ZONE, stats.CALLS_RECEIVED, by=3)
    page = client.get("/dashboard/reports")
    assert page.status_code == 200
    assert '<b id="r-calls">3</b>' in page.get_data(as_text=True)
    today = datetime.now(ZONE).date().isoformat()
    response = client.get(f"/dashboard/reports.csv?from={today}&to={today}")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(reports.CSV_COLUMNS)
    assert rows[1][:2] == [today, "3"]


def test_reports_bad_dates_answer_400_with_a_message(
    auth: AuthActions, client: FlaskClient
) -> None:
    auth.as_role("supervisor")
    page = client.get("/dashboard/reports?from=yesterday")
    assert page.status_code == 400
    assert "dates must look like" in page.get_data(as_text=True)
    assert client.get("/dashboard/reports.csv?from=x").status_code == 400
    assert client.get("/dashboard/reports.json?from=x").get_json()["error"] == "Bad Request"


def test_dispositions_are_counted_by_day() -> None:
    counters = {DAY: {"disposition:referred": 2, "disposition:wrong_number": 1}}
    rep = reports.build_report(DAY, DAY, counters, [], 900, T0, UTC)
    assert rep.dispositions == {"referred": 2, "wrong_number": 1}
    header, row = reports.csv_rows(rep)
    assert row[header.index("disposition:referred")] == "2"
    assert row[header.index("disposition:do_not_call")] == "0"


def test_a_day_is_the_call_centers_day_even_when_the_clocks_change(r: Redis, floor: Floor) -> None:
    # 8 March 2026 is 23 hours long in Los Angeles (clocks go forward at 02:00).
    late = datetime(2026, 3, 8, 23, 30, tzinfo=ZONE).timestamp()  # 06:30 UTC on 9 March
    early = datetime(2026, 3, 8, 0, 15, tzinfo=ZONE).timestamp()  # 08:15 UTC on 8 March
    for at in (late, early):
        floor.caller_waiting(ago=time.time() - at)
    stats.incr(r, ZONE, stats.CALLS_RECEIVED, at=late)
    march_8 = report_reading.report(r, date(2026, 3, 8), date(2026, 3, 8), 900, late + 60, ZONE)
    assert (march_8.calls_received, march_8.by_day[0]["day"]) == (1, "2026-03-08")
    assert sum(h.leads for h in march_8.by_hour) == 2
    assert (march_8.by_hour[23].leads, march_8.by_hour[0].leads) == (1, 1)
    march_9 = report_reading.report(r, date(2026, 3, 9), date(2026, 3, 9), 900, late + 60, ZONE)
    assert (march_9.calls_received, sum(h.leads for h in march_9.by_hour)) == (0, 0)


def test_the_reports_page_names_its_time_zone(auth: AuthActions, client: FlaskClient) -> None:
    auth.as_role("supervisor")
    page = client.get("/dashboard/reports").get_data(as_text=True)
    assert "By hour (America/Los_Angeles)" in page
    assert "(days in America/Los_Angeles)" in page and "UTC" not in page


def test_figures_per_counselor_from_their_offers() -> None:
    from routing.reports import Offer

    offers = [
        Offer("C1", "L1", "connected", T0, T0 + 30, T0 + 330),
        Offer("C1", "L2", "connected", T0, T0 + 30, T0 + 130),
        Offer("C1", "L3", "missed", T0),
        Offer("C2", "L3", "connected", T0, T0 + 10, T0 + 70),
        Offer("C2", "L4", "caller_unreached", T0),
    ]
    dispositions = {"L1": ("referred", "C1"), "L3": ("admitted_to_intake", "C2")}
    one, two = reports.by_counselor(offers, dispositions, {"C1": "Dana", "C2": "Lee"})
    assert (one.name, one.offers, one.taken, one.missed) == ("Dana", 3, 2, 1)
    assert (one.median_handle_seconds, one.total_handle_seconds) == (200, 400)
    assert one.dispositions == {"referred": 1}
    assert (two.name, two.offers, two.taken, two.missed) == ("Lee", 2, 1, 0)
    assert two.dispositions == {"admitted_to_intake": 1}


def test_reports_page_shows_each_counselors_figures(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    from routing import callbacks, dispositions
    from routing.counselors import end_wrapup

    auth.as_role("supervisor")
    dana = floor.counselor("Dana")
    missed = floor.caller_waiting(ago=900)
    [rid] = floor.offer()
    callbacks.call_placed(r, floor.settings, rid, "CA" + "1" * 32)
    callbacks.counselor_leg_ended(r, floor.settings, rid, "no-answer")
    assert r.hget(f"hotline:reservation:{rid}", "state") == "missed"
    [rid] = floor.offer()  # the same caller, offered to Dana again
    floor.bridge(rid)
    r.hset(f"hotline:reservation:{rid}", "bridged_at", time.time() - 95)
    floor.hang_up(rid)
    dispositions.record(r, floor.settings, missed.id, dana.id, "referred")
    assert end_wrapup(r, dana.id) is not None
    page = client.get("/dashboard/reports").get_data(as_text=True)
    row = page.split(f'<tr data-counselor="{dana.id}">')[1].split("</tr>")[0]
    cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[:4] == ["Dana", "2", "1", "1"]
    assert cells[4].startswith("1 min 3") and cells[6] == "Referred elsewhere: 1"
    [figures] = client.get("/dashboard/reports.json").get_json()["by_counselor"]
    assert (figures["taken"], figures["missed"], figures["dispositions"]) == (
        1,
        1,
        {"referred": 1},
    )
