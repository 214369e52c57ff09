"""A counselor's phone number is theirs alone among active counselors: the API answers 409,
the admin and dashboard forms say why; a retired counselor's number may be given again."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from redis import Redis

from routing import counselors as cs
from routing import keys, supervision
from routing.errors import ActionRefused
from tests.conftest import API_TOKEN, AuthActions

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
DANA = "+12125550142"


def test_two_active_counselors_cannot_share_a_number(r: Redis) -> None:
    dana = cs.create_counselor(r, "Dana", DANA, ["en"])
    with pytest.raises(cs.PhoneInUse, match=r"Dana \(C0001\) already has this number"):
        cs.create_counselor(r, "Eve", DANA, ["es"])
    assert [c.name for c in cs.list_counselors(r)] == ["Dana"]
    assert cs.retire_counselor(r, dana)
    assert cs.create_counselor(r, "Eve", DANA, ["es"]).phone == DANA  # Dana has left


def test_an_edit_cannot_take_another_counselors_number(r: Redis) -> None:
    cs.create_counselor(r, "Dana", DANA, ["en"])
    eve = cs.create_counselor(r, "Eve", "+12125550143", ["es"])
    edit = {"name": "Eve", "languages": ["es"], "insurance": []}
    with pytest.raises(ActionRefused, match="Dana .* already has this number"):
        supervision.update_counselor(r, eve.id, phone="(212) 555-0142", **edit)
    kept = supervision.update_counselor(r, eve.id, phone="+12125550143", **edit)
    assert kept.phone == "+12125550143"  # keeping one's own number is no conflict


def test_a_changed_number_is_free_for_another_and_the_new_one_is_taken(r: Redis) -> None:
    cs.create_counselor(r, "Dana", DANA, ["en"])
    edit = {"name": "Dana", "languages": ["en"], "insurance": []}
    dana = cs.holder_of(r, DANA)
    assert dana is not None
    supervision.update_counselor(r, dana.id, phone="+12125550144", **edit)
    assert cs.holder_of(r, DANA) is None
    assert cs.create_counselor(r, "Eve", DANA, ["es"]).phone == DANA  # Dana's old number
    with pytest.raises(cs.PhoneInUse, match="Dana"):
        cs.create_counselor(r, "Fay", "+12125550144", ["es"])


def test_the_sweep_rebuilds_the_counselor_indexes_from_the_records(r: Redis) -> None:
    """An index a crash or an older version left wrong (here: gone, and one stale entry) is
    right again once the sweep has rebuilt it from the counselors' own records."""
    dana = cs.create_counselor(r, "Dana", DANA, ["en"])
    assert cs.make_available(r, dana)
    eve = cs.create_counselor(r, "Eve", "+12125550143", ["es"])
    r.delete(keys.COUNSELOR_PHONES)
    r.hset(keys.COUNSELOR_STATES, mapping={dana.id: "offline", "C9999": "available"})
    assert cs.holder_of(r, DANA) is None  # the index is what holder_of reads
    assert cs.index_counselors(r) == 2
    assert r.hgetall(keys.COUNSELOR_PHONES) == {DANA: dana.id, "+12125550143": eve.id}
    assert r.hgetall(keys.COUNSELOR_STATES) == {dana.id: "available", eve.id: "offline"}
    assert cs.retire_counselor(r, eve)
    assert r.hgetall(keys.COUNSELOR_PHONES) == {DANA: dana.id}
    assert r.hgetall(keys.COUNSELOR_STATES) == {dana.id: "available"}


def test_the_api_answers_409(client: FlaskClient) -> None:
    body = {"name": "Dana", "phone": "(212) 555-0142", "languages": ["en"]}
    assert client.post("/api/counselors", json=body, headers=AUTH).status_code == 201
    again = client.post("/api/counselors", json={**body, "name": "Eve"}, headers=AUTH)
    assert again.status_code == 409
    assert again.json == {"error": "conflict", "message": again.json["message"]}
    assert "already has this number" in again.json["message"]
    assert "555" not in again.json["message"]  # the number itself is never repeated


def test_the_admin_form_says_two_counselors_cannot_share_a_phone(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    auth.as_role("admin")
    cs.create_counselor(r, "Dana", DANA, ["en"])
    form = {"name": "Eve", "phone": "212-555-0142", "languages": ["en"]}
    page = client.post("/admin/counselors", data={"csrf_token": auth.csrf_token("/admin/"), **form})
    assert page.status_code == 409
    text = page.get_data(as_text=True)
    assert "Dana (C0001) already has this number. Two counselors cannot share a phone." in text
    assert len(cs.list_counselors(r)) == 1


def test_the_dashboard_edit_form_refuses_a_taken_number(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    auth.as_role("supervisor")
    cs.create_counselor(r, "Dana", DANA, ["en"])
    eve = cs.create_counselor(r, "Eve", "+12125550143", ["es"])
    page = client.post(
        f"/dashboard/counselors/{eve.id}/edit",
        data={
            "csrf_token": auth.csrf_token("/dashboard/"),
            "name": "Eve",
            "phone": DANA,
            "languages": ["es"],
        },
    )
    assert page.status_code == 400
    assert "already has this number" in page.get_data(as_text=True)
    assert cs.get_counselor(r, eve.id).phone == "+12125550143"  # type: ignore[union-attr]
