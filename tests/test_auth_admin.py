"""Admin pages: accounts (create, change role, link, password, switch off) and counselors,
with plain answers to bad input; and the audit log page."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from redis import Redis

from hotline import audit, users
from routing.counselors import list_counselors
from tests.conftest import WEB_PASSWORD, AuthActions, Floor


def admin_post(auth: AuthActions, client: FlaskClient, path: str, **form: Any) -> Any:
    return client.post(path, data={"csrf_token": auth.csrf_token("/admin/"), **form})


def test_admin_creates_accounts_and_bad_input_is_explained(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("admin")
    dana = floor.counselor("Dana", available=False)
    refused = admin_post(
        auth,
        client,
        "/admin/users",
        username="dana",
        password="short",
        role="counselor",
        counselor_id=dana.id,
    )
    assert refused.status_code == 400
    assert "at least 10 characters" in refused.get_data(as_text=True)
    unlinked = admin_post(
        auth, client, "/admin/users", username="dana", password=WEB_PASSWORD, role="counselor"
    )
    assert "must be linked to a counselor" in unlinked.get_data(as_text=True)
    ghost = admin_post(
        auth,
        client,
        "/admin/users",
        username="dana",
        password=WEB_PASSWORD,
        role="counselor",
        counselor_id="C9999",
    )
    assert "no such counselor" in ghost.get_data(as_text=True)
    made = admin_post(
        auth,
        client,
        "/admin/users",
        username="dana",
        password=WEB_PASSWORD,
        role="counselor",
        counselor_id=dana.id,
    )
    assert made.status_code == 302
    user = users.authenticate(r, "dana", WEB_PASSWORD)
    assert user is not None and user.counselor_id == dana.id


def test_admin_changes_role_password_and_switches_off(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    auth.as_role("admin")
    sue = users.create_user(r, "sue", WEB_PASSWORD, "supervisor")
    admin_post(
        auth,
        client,
        f"/admin/users/{sue.id}",
        role="admin",
        active="1",
        password="a brand new password",
        counselor_id="",
    )
    changed = users.get_user(r, sue.id)
    assert changed is not None and changed.role == "admin"
    assert users.authenticate(r, "sue", "a brand new password") is not None
    admin_post(auth, client, f"/admin/users/{sue.id}", role="admin", active="0", counselor_id="")
    assert users.authenticate(r, "sue", "a brand new password") is None  # switched off


def test_the_last_admin_cannot_be_demoted_or_switched_off(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    me = auth.as_role("admin")
    response = admin_post(
        auth, client, f"/admin/users/{me.id}", role="supervisor", active="1", counselor_id=""
    )
    assert response.status_code == 400
    assert "last admin" in response.get_data(as_text=True)
    assert users.get_user(r, me.id).role == "admin"  # type: ignore[union-attr]


def test_admin_adds_counselors(auth: AuthActions, client: FlaskClient, r: Redis) -> None:
    auth.as_role("admin")
    bad = admin_post(auth, client, "/admin/counselors", name="Luz", phone="12", languages=["es"])
    assert bad.status_code == 400
    assert "not a valid phone number" in bad.get_data(as_text=True)
    no_language = admin_post(auth, client, "/admin/counselors", name="Luz", phone="(212) 555-0102")
    assert "languages" in no_language.get_data(as_text=True)
    assert list_counselors(r) == []
    ok = admin_post(
        auth,
        client,
        "/admin/counselors",
        name="Luz Ortega",
        phone="(212) 555-0102",
        languages=["es"],
        insurance=["medicaid"],
    )
    assert ok.status_code == 302
    [luz] = list_counselors(r)
    assert (luz.name, luz.phone, luz.languages, luz.insurance, luz.status) == (
        "Luz Ortega",
        "+12125550102",
        ("es",),
        ("medicaid",),
        "offline",
    )


def test_admin_retires_a_counselor_who_has_left(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("admin")
    dana = floor.counselor("Dana", available=False)
    account = users.create_user(r, "dana", WEB_PASSWORD, "counselor", counselor_id=dana.id)
    page = client.get("/admin/").get_data(as_text=True)
    assert "Retire Dana" in page
    done = admin_post(auth, client, f"/admin/counselors/{dana.id}/retire")
    assert done.status_code == 302
    page = client.get("/admin/").get_data(as_text=True)
    assert "Counselor Dana" in page and "retired" in page and "dana" in page
    assert "Retire Dana" not in page and list_counselors(r) == []
    assert users.get_user(r, account.id).active is False
    assert admin_post(auth, client, "/admin/counselors/C9999/retire").status_code == 404


def test_a_counselor_on_a_call_is_not_retired(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    auth.as_role("admin")
    dana = floor.counselor("Dana")
    floor.caller_waiting()
    [reservation] = floor.offer()
    floor.bridge(reservation)
    refused = admin_post(auth, client, f"/admin/counselors/{dana.id}/retire")
    assert refused.status_code == 409
    assert "retire them when the call ends" in refused.get_data(as_text=True)
    assert [c.id for c in list_counselors(r)] == [dana.id]


def test_supervisors_cannot_manage_accounts(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    auth.as_role("supervisor")
    token = auth.csrf_token("/dashboard/")
    response = client.post(
        "/admin/users",
        data={"csrf_token": token, "username": "evil", "password": WEB_PASSWORD, "role": "admin"},
    )
    assert response.status_code == 403
    assert users.find_by_username(r, "evil") is None


def test_audit_log_page(auth: AuthActions, client: FlaskClient, app: object, r: Redis) -> None:
    auth.as_role("admin")
    audit.record(r, "read", "L000007", who="user:U0009:sue")
    audit.record(r, "read", "L000008", who="api-token")
    page = client.get("/admin/audit?lead=L000007").get_data(as_text=True)
    assert '<td data-label="Who">sue</td>' in page and "U0009" not in page  # by name
    assert "API token" not in page
    assert '<td data-label="Who">API token</td>' in client.get("/admin/audit").get_data(
        as_text=True
    )


def counselor_table(client: FlaskClient, **query: str) -> str:
    page = client.get("/admin/", query_string=query)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_counselors_are_a_table_with_masked_numbers_search_and_pages(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    from routing.phones import mask

    auth.as_role("admin")
    luz = floor.counselor("Luz Ortega", languages=("es",), available=False)
    r.hset(f"hotline:counselor:{luz.id}", "insurance", "ppo,medicaid")
    dana = floor.counselor("Dana Reyes")
    page = counselor_table(client)
    row = page.split(f'<tr data-counselor="{luz.id}">')[1].split("</tr>")[0]
    assert mask(luz.phone) in row and luz.phone not in page and luz.phone[-4:] not in page
    assert "ES" in row and "PPO, Medicaid" in row and "Offline" in row
    assert "Available" in page.split(f'<tr data-counselor="{dana.id}">')[1].split("</tr>")[0]
    found = counselor_table(client, q="ortega")
    assert f'data-counselor="{luz.id}"' in found and f'data-counselor="{dana.id}"' not in found
    assert 'data-counselor="' not in counselor_table(client, q="nobody").split("counselor-q")[1]
    for n in range(25):
        floor.counselor(f"Extra {n:02d}", available=False)
    first = counselor_table(client)
    assert first.count('<tr data-counselor="') == 20 and "Page 1 of 2" in first
    second = counselor_table(client, page="2")
    assert second.count('<tr data-counselor="') == 7 and 'rel="prev"' in second
    assert counselor_table(client, page="99").count('<tr data-counselor="') == 7
