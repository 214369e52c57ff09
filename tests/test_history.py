"""The history of past callbacks: searched by date, status, counselor, disposition and the
last four digits, newest first, paged by creation time, each row opening the (audited)
lead page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from redis import Redis

from hotline import audit
from routing import dispositions, history
from routing.counselors import get_counselor, make_offline
from settings import Settings
from tests.conftest import ZONE, AuthActions, Floor


def rows(client: FlaskClient, **query: str) -> list[str]:
    """Lead ids on the history page for ``query``, in the order shown."""
    page = client.get("/dashboard/history", query_string=query)
    assert page.status_code == 200, page.get_data(as_text=True)
    return re.findall(r'<tr data-lead="([^"]+)"', page.get_data(as_text=True))


def called_back(
    floor: Floor, settings: Settings, counselor_name: str, value: str
) -> tuple[Any, Any]:
    """A lead called back by a new counselor and dispositioned ``value``."""
    counselor = floor.counselor(counselor_name)
    lead = floor.caller_waiting(ago=3600)
    [rid] = floor.offer()
    floor.bridge(rid)
    floor.hang_up(rid)
    dispositions.record(floor.r, settings, lead.id, counselor.id, value)
    return lead, counselor


def test_search_by_status_counselor_disposition_and_last_four(
    auth: AuthActions, client: FlaskClient, floor: Floor, settings: Settings
) -> None:
    auth.as_role("supervisor")
    referred, dana = called_back(floor, settings, "Dana", "referred")
    make_offline(floor.r, get_counselor(floor.r, dana.id))  # type: ignore[arg-type]
    admitted, lee = called_back(floor, settings, "Lee", "admitted_to_intake")
    waiting = floor.caller_waiting(ago=10)
    assert rows(client) == [waiting.id, admitted.id, referred.id]  # newest first
    assert rows(client, status="waiting") == [waiting.id]
    assert rows(client, status="connected") == [admitted.id, referred.id]
    assert rows(client, counselor=dana.id) == [referred.id]
    assert rows(client, disposition="admitted_to_intake") == [admitted.id]
    assert rows(client, last4=referred.phone[-4:]) == [referred.id]
    assert rows(client, last4="0000") == []
    page = client.get("/dashboard/history").get_data(as_text=True)
    assert "Lee" in page and "Referred elsewhere" in page
    for lead in (referred, admitted, waiting):
        assert lead.phone not in page and lead.phone[-4:] not in page  # masked
        assert f'href="/dashboard/leads/{lead.id}"' in page


def test_search_by_days_in_the_call_centers_time_zone(
    auth: AuthActions, client: FlaskClient, floor: Floor
) -> None:
    auth.as_role("supervisor")
    old = floor.caller_waiting(ago=3 * 86400)
    new = floor.caller_waiting(ago=60)
    today = datetime.now(ZONE).date()
    assert rows(client, **{"from": today.isoformat()}) == [new.id]
    three_days_ago = (datetime.now(ZONE) - timedelta(days=3)).date().isoformat()
    assert rows(client, **{"from": three_days_ago, "to": three_days_ago}) == [old.id]


def test_pages_go_back_by_creation_time(
    auth: AuthActions, client: FlaskClient, floor: Floor
) -> None:
    auth.as_role("supervisor")
    made = [floor.caller_waiting(ago=1000 - n).id for n in range(history.PAGE_SIZE + 5)]
    html = client.get("/dashboard/history").get_data(as_text=True)
    first = re.findall(r'<tr data-lead="([^"]+)"', html)
    assert first == made[::-1][: history.PAGE_SIZE]
    link = re.search(r'<a href="([^"]+)" id="older"', html)
    assert link
    html = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r'<tr data-lead="([^"]+)"', html) == made[::-1][history.PAGE_SIZE :]
    assert 'id="older"' not in html and 'id="newest"' in html


def test_a_search_reads_a_bounded_number_of_leads(
    auth: AuthActions, floor: Floor, r: Redis
) -> None:
    made = [floor.caller_waiting(ago=500 - n) for n in range(12)]
    wanted = history.Search(last_four=made[0].phone[-4:])  # the oldest
    page = history.search(r, wanted, ZONE, max_scan=5)
    assert page.rows == [] and page.scanned == 5 and page.cut_short
    assert page.next_before is not None
    page = history.search(r, wanted, ZONE, before=page.next_before, max_scan=5)
    assert page.scanned == 5 and page.rows == []
    page = history.search(r, wanted, ZONE, before=page.next_before, max_scan=5)
    assert [row["id"] for row in page.rows] == [made[0].id]
    assert page.next_before is None and not page.cut_short


def test_opening_a_row_is_audited(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("supervisor")
    lead = floor.caller_waiting()
    rows(client)
    assert [e for e in audit.entries(r, lead_id=lead.id) if e["action"] == "read"] == []
    assert client.get(f"/dashboard/leads/{lead.id}").status_code == 200
    assert [e["action"] for e in audit.entries(r, lead_id=lead.id)] == ["read"]


def test_bad_searches_are_answered_plainly(auth: AuthActions, client: FlaskClient) -> None:
    auth.as_role("supervisor")
    for query, message in (
        ({"last4": "12"}, "give exactly four digits"),
        ({"from": "yesterday"}, "dates must look like"),
        ({"status": "happy"}, "not a status"),
        ({"before": "soon"}, "before: not a time"),
    ):
        page = client.get("/dashboard/history", query_string=query)
        assert page.status_code == 400 and message in page.get_data(as_text=True)


def test_counselors_cannot_read_the_history(auth: AuthActions, client: FlaskClient) -> None:
    auth.as_role("counselor")
    assert client.get("/dashboard/history").status_code == 403
