"""The JSON API: bearer auth, counselors, status changes, the queue and leads; clear 400s."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from flask import Flask
from flask.testing import FlaskClient

from hotline import users
from routing import callbacks, matching
from routing import counselors as cs
from routing.leads import Lead
from routing.queue import add_waiting
from settings import Settings
from tests.conftest import API_TOKEN
from tests.records import save_lead
from workers import jobs
from workers.services import Services

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


class Api:
    """The API as a client sees it."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=AUTH)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=AUTH)


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


def new_counselor(api: Api, **changes: Any) -> dict[str, Any]:
    body = {
        "name": "Ana",
        "phone": "(312) 555-0199",
        "languages": ["en", "es"],
        "insurance": ["medicaid"],
        **changes,
    }
    response = api.post("/api/counselors", body)
    assert response.status_code == 201, response.json
    return response.json


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-000000000"},
        {"Authorization": API_TOKEN},
        {"Authorization": f"Basic {API_TOKEN}"},
    ],
)
def test_token_required(client: FlaskClient, headers: dict[str, str]) -> None:
    for path in ("/api/counselors", "/api/queue", "/api/leads/L000001"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.json["error"] == "unauthorized"
    assert client.post("/api/counselors", json={}, headers=headers).status_code == 401


def test_create_and_list_counselors(api: Api, r: redis.Redis) -> None:
    made = new_counselor(api)
    assert made["id"] and made["name"] == "Ana" and made["status"] == "offline"
    assert made["phone"] == "***99"
    assert made["languages"] == ["en", "es"] and made["insurance"] == ["medicaid"]
    stored = cs.get_counselor(r, made["id"])
    assert stored is not None and stored.phone == "+13125550199"
    listed = api.get("/api/counselors").json["counselors"]
    assert [c["id"] for c in listed] == [made["id"]]
    assert "5550199" not in json.dumps(listed)
    assert api.get(f"/api/counselors/{made['id']}").json["id"] == made["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "3125550199", "languages": ["en"]}, "name"),
        ({"name": "", "phone": "3125550199", "languages": ["en"]}, "name"),
        ({"name": "A", "phone": "12", "languages": ["en"]}, "phone"),
        ({"name": "A", "phone": 3125550199, "languages": ["en"]}, "phone"),
        ({"name": "A", "phone": "3125550199"}, "languages"),
        ({"name": "A", "phone": "3125550199", "languages": []}, "languages"),
        ({"name": "A", "phone": "3125550199", "languages": ["fr"]}, "languages"),
        ({"name": "A", "phone": "3125550199", "languages": "en"}, "languages"),
        (
            {"name": "A", "phone": "3125550199", "languages": ["en"], "insurance": ["gold"]},
            "insurance",
        ),
        ([1, 2], "JSON"),
    ],
)
def test_bad_counselor_is_refused_with_a_message(
    api: Api, r: redis.Redis, body: Any, field: str
) -> None:
    response = api.post("/api/counselors", body)
    assert response.status_code == 400
    assert set(response.json) == {"error", "message"}
    assert field in response.json["message"]
    assert cs.list_counselors(r) == []


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post(
        "/api/counselors", data="{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json["message"]


def test_status_changes_and_matching(
    api: Api, r: redis.Redis, settings: Settings, services: Services
) -> None:
    made = new_counselor(api)
    cid = made["id"]
    for body in ({}, {"status": "busy"}, {"status": "offline", "reason": 5}):
        response = api.post(f"/api/counselors/{cid}/status", body)
        assert response.status_code == 400 and response.json["message"]
    assert api.post("/api/counselors/C9999/status", {"status": "available"}).status_code == 404

    now = api.post(f"/api/counselors/{cid}/status", {"status": "available"})
    assert now.status_code == 200 and now.json["status"] == "available"

    # A lead arriving is matched to them at once; they cannot go offline mid-offer.
    lead = Lead(
        id="L000001",
        call_sid="CA1",
        phone="+12125550123",
        language="es",
        insurance="medicaid",
        first_call_at=1.0,
    )
    save_lead(r, lead)
    add_waiting(r, settings, lead)
    assert len(jobs.request_match(services)) == 1
    busy = api.post(f"/api/counselors/{cid}/status", {"status": "offline"})
    assert busy.status_code == 409 and "reserved" in busy.json["message"]


def test_retire_a_counselor(api: Api, r: redis.Redis, settings: Settings) -> None:
    cid = new_counselor(api)["id"]
    account = users.create_user(r, "ana", "correct horse battery", "counselor", counselor_id=cid)
    assert api.client.delete(f"/api/counselors/{cid}").status_code == 401  # token required
    assert api.client.delete("/api/counselors/C9999", headers=AUTH).status_code == 404
    api.post(f"/api/counselors/{cid}/status", {"status": "available"})
    # Being dialed: not now.
    lead = Lead(
        id="L000001", call_sid="CA1", phone="+12125550123", insurance="medicaid", first_call_at=1.0
    )
    save_lead(r, lead)
    add_waiting(r, settings, lead)
    [reservation] = matching.match(r, settings)
    busy = api.client.delete(f"/api/counselors/{cid}", headers=AUTH)
    assert busy.status_code == 409 and "reserved" in busy.json["message"]
    callbacks.counselor_missed(r, settings, reservation, "no-answer")
    gone = api.client.delete(f"/api/counselors/{cid}", headers=AUTH)
    assert gone.status_code == 204 and gone.get_data() == b""
    assert api.get("/api/counselors").json["counselors"] == []
    assert api.get(f"/api/counselors/{cid}").json["status"] == "retired"
    assert api.post(f"/api/counselors/{cid}/status", {"status": "available"}).status_code == 409
    assert users.get_user(r, account.id).active is False  # their account is switched off
    assert api.client.delete(f"/api/counselors/{cid}", headers=AUTH).status_code == 204


def test_offline_with_reason(api: Api) -> None:
    cid = new_counselor(api)["id"]
    api.post(f"/api/counselors/{cid}/status", {"status": "available"})
    off = api.post(f"/api/counselors/{cid}/status", {"status": "offline", "reason": "break"})
    assert off.status_code == 200
    assert off.json["status"] == "offline" and off.json["status_reason"] == "break"


def test_queue_snapshot(api: Api, r: redis.Redis, settings: Settings) -> None:
    for i, (urgent, situation) in enumerate([(False, "other"), (True, "self")]):
        lead = Lead(
            id=f"L00000{i}",
            call_sid=f"CA{i}",
            phone="+12125550123",
            urgent=urgent,
            situation=situation,
            insurance="ppo",
            first_call_at=1_000_000.0 + i,
            attempts=i,
        )
        save_lead(r, lead)
        add_waiting(r, settings, lead)
    new_counselor(api)
    body = api.get("/api/queue").json
    assert set(body) == {"waiting", "counselors", "stats"}
    first, second = body["waiting"]
    assert first["id"] == "L000001" and first["priority"] == "urgent"
    for item in body["waiting"]:
        assert {
            "id",
            "priority",
            "language",
            "situation",
            "urgent",
            "insurance",
            "attempts",
            "waiting_seconds",
            "phone",
        } <= set(item)
        assert item["phone"] == "***23"
    assert second["attempts"] == 0 and first["attempts"] == 1
    assert body["stats"]["waiting"] == 2
    assert body["counselors"][0]["status"] == "offline"
    assert api.get("/api/queue?limit=0").status_code == 400


def test_lead_detail_with_attempts(api: Api, r: redis.Redis) -> None:
    lead = Lead(
        id="L000009",
        call_sid="CA9",
        phone="+12125550123",
        status="retry_wait",
        attempts=1,
        first_call_at=1.0,
    )
    save_lead(r, lead)
    r.rpush(
        "hotline:lead:L000009:attempts",
        json.dumps({"attempt": 1, "at": 2.0, "outcome": "no-answer"}),
    )
    body = api.get("/api/leads/L000009").json
    assert body["status"] == "retry_wait"
    assert body["lead"]["phone"] == "***23"
    assert body["attempts"] == [{"attempt": 1, "at": 2.0, "outcome": "no-answer"}]
    missing = api.get("/api/leads/L404")
    assert missing.status_code == 404 and missing.json["error"] == "not_found"


def test_every_api_route_is_documented(app: Flask) -> None:
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    assert served, "no /api routes registered"
    assert served <= documented, served - documented
    assert documented <= served, documented - served


@pytest.mark.parametrize(("length", "status"), [(80, 201), (81, 400)])
def test_a_counselors_name_has_one_limit_everywhere(
    api: Api, r: redis.Redis, length: int, status: int
) -> None:
    from routing import counselors as cs_domain

    name = "N" * length
    made = api.post("/api/counselors", {"name": name, "phone": "+13125550181", "languages": ["en"]})
    assert made.status_code == status
    if status == 400:
        assert "1-80" in made.json["message"]
    # The dashboard's edit and the admin page go through the same rule.
    with pytest.raises(cs_domain.CounselorError):
        cs_domain.clean_name("N" * 81)
    assert cs_domain.clean_name("  Ana   María ") == "Ana María"
