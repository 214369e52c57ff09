"""The supervisor dashboard: the live floor, actions, lead details (audited), the API
through a supervisor's session."""

from __future__ import annotations

import re
import time
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient
from redis import Redis

from hotline import audit
from routing import keys
from routing.counselors import get_counselor
from routing.leads import get_lead, lead_events
from routing.phones import mask
from tests.conftest import API_TOKEN, AuthActions, Floor


def queue_order(client: FlaskClient) -> list[str]:
    """Lead ids in the order the live fragment lists them."""
    html = client.get("/dashboard/live").get_data(as_text=True)
    return re.findall(r'<tr data-lead="([^"]+)"', html)


def test_live_floor_lists_waiting_callbacks_in_order_with_their_details(
    auth: AuthActions, client: FlaskClient, floor: Floor
) -> None:
    auth.as_role("supervisor")
    normal = floor.caller_waiting(ago=300, situation="other", insurance="medicaid")
    urgent = floor.caller_waiting(ago=30, urgent=True, language="es")
    floor.counselor("Dana", available=False)
    data = client.get("/dashboard/live.json").get_json()
    assert [w["id"] for w in data["waiting"]] == [urgent.id, normal.id]  # urgent head start
    first = data["waiting"][0]
    assert (first["priority"], first["language"], first["attempts"]) == ("urgent", "es", 0)
    assert data["waiting"][1]["insurance"] == "medicaid"
    assert data["waiting_count"] == 2
    assert data["longest_wait_seconds"] >= 300
    assert data["estimated_wait_seconds"] is None  # Dana is offline: nobody to call back
    assert data["counselors"][0]["name"] == "Dana"
    assert data["counselors"][0]["shown_state"] == "offline"
    assert "seconds_in_state" in data["counselors"][0]
    # Numbers never leave unmasked, in JSON or HTML.
    body = client.get("/dashboard/live").get_data(as_text=True)
    assert normal.phone not in body and normal.phone[-4:] not in body
    assert queue_order(client) == [urgent.id, normal.id]


def test_live_fragment_version_changes_only_with_the_floor(
    auth: AuthActions, client: FlaskClient, floor: Floor
) -> None:
    auth.as_role("supervisor")
    floor.caller_waiting()

    def version() -> str:
        html = client.get("/dashboard/live").get_data(as_text=True)
        return re.search(r'data-version="([^"]+)"', html).group(1)  # type: ignore[union-attr]

    before = version()
    assert version() == before  # ticking wait times do not count as a change
    floor.caller_waiting()
    assert version() != before


def test_empty_floor_says_so(auth: AuthActions, client: FlaskClient) -> None:
    auth.as_role("supervisor")
    html = client.get("/dashboard/").get_data(as_text=True)
    assert "Nobody is waiting for a callback." in html
    assert "No counselors yet." in html


def test_move_to_front(auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis) -> None:
    auth.as_role("supervisor")
    first = floor.caller_waiting(ago=600)
    second = floor.caller_waiting(ago=60)
    token = auth.csrf_token("/dashboard/")
    response = client.post(f"/dashboard/callbacks/{second.id}/front", data={"csrf_token": token})
    assert response.status_code == 302
    assert queue_order(client) == [second.id, first.id]
    # The bucket matching reads agrees with the dashboard's order.
    bucket = keys.WAITING.format("en", "unknown")
    assert r.zrange(bucket, 0, -1) == [second.id, first.id]
    assert lead_events(r, second.id)[-1]["event"] == "moved_to_front"


def test_move_to_front_needs_csrf(auth: AuthActions, client: FlaskClient, floor: Floor) -> None:
    auth.as_role("supervisor")
    first = floor.caller_waiting(ago=600)
    second = floor.caller_waiting(ago=60)
    assert client.post(f"/dashboard/callbacks/{second.id}/front").status_code == 400
    assert queue_order(client) == [first.id, second.id]


def test_a_callback_being_dialed_cannot_be_moved_or_removed(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("supervisor")
    lead = floor.caller_waiting()
    floor.counselor()
    assert floor.offer()
    token = auth.csrf_token("/dashboard/")
    page = client.post(
        f"/dashboard/callbacks/{lead.id}/front", data={"csrf_token": token}, follow_redirects=True
    )
    assert "no longer waiting" in page.get_data(as_text=True)
    assert r.zscore(keys.WAITING_ALL, lead.id) is None  # not put back in line
    response = client.post(
        f"/dashboard/callbacks/{lead.id}/remove", data={"csrf_token": token, "reason": "dup"}
    )
    assert response.status_code == 400
    assert "calling this person now" in response.get_data(as_text=True)


def test_remove_needs_a_reason_and_keeps_it(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("supervisor")
    lead = floor.caller_waiting()
    token = auth.csrf_token("/dashboard/")
    url = f"/dashboard/callbacks/{lead.id}/remove"
    refused = client.post(url, data={"csrf_token": token, "reason": "  "})
    assert refused.status_code == 400
    assert "Give a reason" in refused.get_data(as_text=True)
    assert queue_order(client) == [lead.id]
    done = client.post(url, data={"csrf_token": token, "reason": "Duplicate of an earlier call"})
    assert done.status_code == 302
    assert queue_order(client) == []
    removed = get_lead(r, lead.id)
    assert removed is not None
    assert (removed.status, removed.status_reason) == ("removed", "Duplicate of an earlier call")
    assert r.zscore(keys.WAITING.format("en", "unknown"), lead.id) is None
    assert lead_events(r, lead.id)[-1]["event"] == "removed"
    assert [e["action"] for e in audit.entries(r, lead_id=lead.id)] == ["remove"]


def test_force_offline(auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis) -> None:
    auth.as_role("supervisor")
    dana = floor.counselor("Dana")
    token = auth.csrf_token("/dashboard/")
    client.post(f"/dashboard/counselors/{dana.id}/offline", data={"csrf_token": token})
    after = get_counselor(r, dana.id)
    assert after is not None and after.status == "offline"
    assert "put offline by supervisor" in after.status_reason
    assert not any(r.zscore(k, dana.id) for k in r.keys("hotline:idle:*"))  # out of rotation


def test_force_offline_refused_during_a_call(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("supervisor")
    floor.caller_waiting()
    dana = floor.counselor("Dana")
    floor.offer()
    token = auth.csrf_token("/dashboard/")
    page = client.post(
        f"/dashboard/counselors/{dana.id}/offline",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "is on a call or being dialed" in page.get_data(as_text=True)
    assert get_counselor(r, dana.id).status == "reserved"  # type: ignore[union-attr]


def test_edit_counselor_updates_skills_and_idle_sets(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("supervisor")
    dana = floor.counselor("Dana")
    token = auth.csrf_token("/dashboard/")
    url = f"/dashboard/counselors/{dana.id}/edit"
    bad = client.post(
        url, data={"csrf_token": token, "name": "Dana", "phone": "12", "languages": ["en"]}
    )
    assert bad.status_code == 400 and "phone" in bad.get_data(as_text=True)
    ok = client.post(
        url,
        data={
            "csrf_token": token,
            "name": "Dana R",
            "phone": "(212) 555-0199",
            "languages": ["en", "es"],
            "insurance": ["medicaid"],
        },
    )
    assert ok.status_code == 302
    after = get_counselor(r, dana.id)
    assert after is not None
    assert (after.name, after.phone, after.languages, after.insurance) == (
        "Dana R",
        "+12125550199",
        ("en", "es"),
        ("medicaid",),
    )
    assert r.zscore(keys.IDLE.format("es", "medicaid"), dana.id) is not None
    assert r.zscore(keys.IDLE.format("en", "ppo"), dana.id) is None  # specialised now


def test_lead_details_are_audited_and_masked(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    user = auth.as_role("supervisor")
    lead = floor.caller_waiting()
    html = client.get(f"/dashboard/leads/{lead.id}").get_data(as_text=True)
    assert lead.phone not in html
    entries = audit.entries(r, lead_id=lead.id)
    assert entries[0]["action"] == "read"
    assert entries[0]["who"] == f"user:{user.id}:{user.username}"


def test_api_lead_read_is_audited(client: FlaskClient, floor: Floor, r: Redis) -> None:
    lead = floor.caller_waiting()
    response = client.get(f"/api/leads/{lead.id}", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 200
    [entry] = audit.entries(r, lead_id=lead.id)
    assert (entry["who"], entry["via"]) == ("api-token", f"/api/leads/{lead.id}")


@pytest.mark.parametrize(
    ("role", "status"), [("supervisor", 200), ("admin", 200), ("counselor", 401)]
)
def test_api_accepts_a_supervisor_session(
    auth: AuthActions, client: FlaskClient, role: str, status: int
) -> None:
    assert client.get("/api/queue").status_code == 401
    auth.as_role(role)
    assert client.get("/api/queue").status_code == status


def test_api_with_a_session_needs_csrf_to_change_things(
    auth: AuthActions, client: FlaskClient, floor: Floor
) -> None:
    auth.as_role("supervisor")
    dana = floor.counselor("Dana", available=False)
    url = f"/api/counselors/{dana.id}/status"
    refused = client.post(url, json={"status": "available"})
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["message"]
    token = auth.csrf_token("/dashboard/")
    accepted = client.post(url, json={"status": "available"}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200, accepted.get_json()


def test_a_wrong_bearer_token_is_not_rescued_by_a_session(
    auth: AuthActions, client: FlaskClient
) -> None:
    auth.as_role("supervisor")
    response = client.get("/api/queue", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


def test_charts_are_valid_svg(auth: AuthActions, client: FlaskClient, floor: Floor) -> None:
    auth.as_role("supervisor")
    floor.caller_waiting()
    html = client.get("/dashboard/reports").get_data(as_text=True)
    svg = re.search(r'<svg id="chart-hours".*?</svg>', html, re.S)
    assert svg
    root = ElementTree.fromstring(svg.group(0))
    bars = [el for el in root if el.tag == "rect"]
    assert len(bars) == 48  # 24 hours x (leads, connected)
    assert sum(float(b.get("height", "0")) > 0 for b in bars) == 1  # one lead, one bar


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/leads/L999999",
        "/dashboard/callbacks/L999999/remove",
        "/dashboard/counselors/C9999/edit",
    ],
)
def test_unknown_ids_get_a_plain_404_page(
    auth: AuthActions, client: FlaskClient, path: str
) -> None:
    auth.as_role("supervisor")
    response = client.get(path)
    assert response.status_code == 404
    assert "There is no such callback, counselor or account." in response.get_data(as_text=True)


def test_offline_for_missed_offers_is_not_shown_as_a_break(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    from routing.counselors import make_offline

    auth.as_role("supervisor")
    dana = floor.counselor("Dana")
    kim = floor.counselor("Kim")
    make_offline(r, dana, reason="Meal")
    make_offline(r, kim, reason="missed 3 offers in a row")
    rows = {c["name"]: c for c in client.get("/dashboard/live.json").get_json()["counselors"]}
    assert rows["Dana"]["shown_state"] == "break"
    assert rows["Kim"]["shown_state"] == "offline"
    assert rows["Kim"]["status_reason"] == "missed 3 offers in a row"


def test_an_account_level_twilio_error_shows_a_red_banner_with_what_to_do(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    from routing import account

    auth.as_role("supervisor")
    assert "account-trouble" not in client.get("/dashboard/live").get_data(as_text=True)
    account.pause_dialing(r, 21210, "Twilio error 21210")
    html = client.get("/dashboard/live").get_data(as_text=True)
    banner = html[html.index('id="account-trouble"') :][:600]
    assert (
        "error 21210" in banner and "paused" in banner and "Verify the callback caller ID" in banner
    )
    trouble = client.get("/dashboard/live.json").get_json()["account_trouble"]
    assert trouble["code"] == 21210 and trouble["paused"] is True
    account.clear(r)
    assert client.get("/dashboard/live.json").get_json()["account_trouble"] is None


def estimate_card(client: FlaskClient) -> str:
    html = client.get("/dashboard/live").get_data(as_text=True)
    card = re.search(r'<div class="number" id="estimate">(.*?)</div>', html, re.S)
    assert card
    return re.sub(r"<[^>]+>", " ", card.group(1))


def test_no_estimate_is_given_while_nobody_can_call_back(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("supervisor")
    floor.caller_waiting()
    assert "no counselor is available or on a call" in estimate_card(client)
    dana = floor.counselor("Dana", available=False)
    assert "No one" in estimate_card(client)  # offline counts for nothing
    from routing.counselors import make_available

    make_available(r, dana)
    card = estimate_card(client)
    assert "estimated wait for a new caller" in card and "No one" not in card
    assert client.get("/dashboard/live.json").get_json()["estimated_wait_seconds"] >= 60


def test_a_counselor_on_a_call_shows_which_callback_and_for_how_long(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("supervisor")
    lead = floor.caller_waiting()
    dana = floor.counselor("Dana")
    [rid] = floor.offer()
    html = client.get("/dashboard/live").get_data(as_text=True)
    cell = re.search(rf'id="call-of-{dana.id}">(.*?)</span></small></span>', html, re.S)
    assert cell and lead.id in cell.group(1) and "being placed" in cell.group(1)
    floor.bridge(rid)
    r.hset(keys.RESERVATION.format(rid), "bridged_at", time.time() - 125)
    html = client.get("/dashboard/live").get_data(as_text=True)
    cell = re.search(rf'id="call-of-{dana.id}">(.*?)</span></small></span>', html, re.S)
    assert cell
    text = cell.group(1)
    assert lead.id in text and f"/dashboard/leads/{lead.id}" in text
    assert "on the call for" in text and "2 min 05 s" in text
    assert mask(lead.phone) in text and lead.phone not in text
    [row] = client.get("/dashboard/live.json").get_json()["counselors"]
    assert row["call"]["lead_id"] == lead.id and row["call"]["on_the_call"] is True
    floor.hang_up(rid)
    assert f'id="call-of-{dana.id}"' not in client.get("/dashboard/live").get_data(as_text=True)


def test_the_favicon_is_served_and_linked_from_every_page(
    auth: AuthActions, client: FlaskClient
) -> None:
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    root = ElementTree.fromstring(icon.get_data())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    icon.close()
    for page in ("/login",):
        assert 'rel="icon" href="/static/favicon.svg"' in client.get(page).get_data(as_text=True)
    auth.as_role("supervisor")
    html = client.get("/dashboard/").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in html


def test_insurance_is_named_alike_everywhere_and_actions_cells_stay_cells(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("supervisor")
    floor.caller_waiting(insurance="ppo")
    dana = floor.counselor("Dana", available=False)
    r.hset(keys.COUNSELOR.format(dana.id), "insurance", "ppo,medicaid")
    html = client.get("/dashboard/live").get_data(as_text=True)
    row = html.split(f'<tr data-counselor="{dana.id}"')[1].split("</tr>")[0]
    assert "PPO, Medicaid" in row and "ppo" not in row
    # A flex box inside the cell, never on it: a flex cell loses its row's border line.
    assert not re.search(r"<td[^>]*class=\"[^\"]*buttons", html)
