"""The counselor console: one-click state changes, the callback on offer and on the line
(number masked until the call is bridged), dispositions and their effects."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from hotline import audit
from routing import dispositions, keys, stats
from routing.counselors import get_counselor, make_available
from routing.leads import get_lead, lead_events
from settings import Settings
from tests.conftest import ZONE, AuthActions, Floor
from workers.services import DEFAULT_QUEUE


def post_state(auth: AuthActions, client: FlaskClient, state: str, **extra: str) -> Any:
    token = auth.csrf_token("/console/")
    return client.post("/console/state", data={"csrf_token": token, "state": state, **extra})


def state_box(client: FlaskClient) -> str:
    return client.get("/console/live/state").get_data(as_text=True)


def call_box(client: FlaskClient) -> str:
    return client.get("/console/live/call").get_data(as_text=True)


def my_state(client: FlaskClient) -> str:
    match = re.search(r'id="my-state">([^<]+)<', state_box(client))
    assert match
    return match.group(1)


def test_one_click_available_offline_and_break(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    user = auth.as_role("counselor")
    assert my_state(client) == "Offline"
    assert post_state(auth, client, "available").status_code == 302
    assert my_state(client) == "Available"
    assert r.zscore(keys.IDLE.format("en", "any"), user.counselor_id) is not None
    post_state(auth, client, "break", reason="Meal")
    assert my_state(client) == "On break"
    counselor = get_counselor(r, user.counselor_id)
    assert counselor is not None
    assert (counselor.status, counselor.status_reason) == ("offline", "Meal")
    assert r.zscore(keys.IDLE.format("en", "any"), user.counselor_id) is None
    post_state(auth, client, "offline")
    assert my_state(client) == "Offline"
    assert "data-seconds" in state_box(client)  # time in state is shown and ticks


def test_unknown_state_is_refused_with_a_message(auth: AuthActions, client: FlaskClient) -> None:
    auth.as_role("counselor")
    page = client.post(
        "/console/state",
        data={"csrf_token": auth.csrf_token("/console/"), "state": "asleep"},
        follow_redirects=True,
    )
    assert "Choose available, offline or break." in page.get_data(as_text=True)


def test_going_available_matches_a_waiting_caller(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    user = auth.as_role("counselor")
    lead = floor.caller_waiting()
    post_state(auth, client, "available")
    # Matching ran at once: the counselor is being dialed for this caller.
    assert get_counselor(r, user.counselor_id).status == "reserved"  # type: ignore[union-attr]
    assert get_lead(r, lead.id).status == "reserved"  # type: ignore[union-attr]


def offered_call(auth: AuthActions, floor: Floor, **lead_fields: Any) -> tuple[Any, Any, str]:
    """A signed-in counselor with a callback on offer: (user, lead, reservation id)."""
    counselor = floor.counselor("Dana", languages=("en", "es"), available=False)
    user = auth.as_role("counselor", counselor_id=counselor.id)
    lead = floor.caller_waiting(ago=420, **lead_fields)
    make_available(floor.r, counselor)
    [rid] = floor.offer()
    return user, lead, rid


def test_offer_shows_the_lead_with_the_number_masked_until_bridged(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    user, lead, rid = offered_call(auth, floor, urgent=True, insurance="medicaid", language="es")
    box = call_box(client)
    assert lead.id in box
    assert "Urgent: in withdrawal or using now" in box
    assert "Medicaid" in box and "Spanish" in box and "Calling for themselves" in box
    assert "7 min" in box  # waited
    assert lead.phone not in box and "***" in box
    floor.bridge(rid)
    box = call_box(client)
    assert re.search(r'id="caller-number">\s*' + re.escape(lead.phone), box)
    assert "You are on the call" in box
    # One audit entry for the viewing, however often the box refreshes.
    reads = [e for e in audit.entries(r, lead_id=lead.id) if e["action"] == "read"]
    assert len(reads) == 1 and reads[0]["who"].startswith(f"user:{user.id}:")


def test_earlier_attempts_are_shown(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    _, lead, _ = offered_call(auth, floor)
    r.rpush(keys.LEAD_ATTEMPTS.format(lead.id), '{"at": 1700000000, "outcome": "no-answer"}')
    assert "no-answer" in call_box(client)


def finished_call(auth: AuthActions, floor: Floor) -> tuple[Any, Any]:
    user, lead, rid = offered_call(auth, floor)
    floor.bridge(rid)
    assert floor.hang_up(rid) == "connected"
    return user, lead


def dispose(auth: AuthActions, client: FlaskClient, lead_id: str, **form: str) -> Any:
    token = auth.csrf_token("/console/")
    return client.post(
        "/console/disposition", data={"csrf_token": token, "lead_id": lead_id, **form}
    )


def test_after_the_call_the_disposition_form_shows_and_submitting_ends_wrap_up(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    user, lead = finished_call(auth, floor)
    assert my_state(client) == "Wrap-up"
    box = call_box(client)
    assert 'id="disposition-form"' in box and lead.phone not in box
    response = dispose(auth, client, lead.id, value="referred", note="Sent to county program")
    assert response.status_code == 302
    assert my_state(client) == "Available"
    saved = dispositions.get(r, lead.id)
    assert (saved["value"], saved["note"], saved["counselor_id"]) == (
        "referred",
        "Sent to county program",
        user.counselor_id,
    )
    assert "disposition-form" not in call_box(client)
    assert stats.day(r, ZONE).get("disposition:referred") == 1  # counted for the reports
    again = dispose(auth, client, lead.id, value="wrong_number")  # a second tab, say
    assert again.status_code == 302
    page = client.get("/console/").get_data(as_text=True)
    assert "There is no call waiting for your disposition." in page
    assert dispositions.get(r, lead.id)["value"] == "referred"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({}, "Choose how the call ended."),
        ({"value": "sold"}, "Choose how the call ended."),
        ({"value": "call_back_at"}, "Choose when to call back."),
        ({"value": "call_back_at", "callback_epoch": "1"}, "at least 5 minutes"),
        ({"value": "referred", "note": "x" * 501}, "under 500 characters"),
    ],
)
def test_bad_dispositions_are_refused_and_the_form_kept(
    auth: AuthActions,
    client: FlaskClient,
    floor: Floor,
    r: Redis,
    form: dict[str, str],
    message: str,
) -> None:
    _, lead = finished_call(auth, floor)
    response = dispose(auth, client, lead.id, **form)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert dispositions.get(r, lead.id) == {}
    assert my_state(client) == "Wrap-up"


def test_asked_not_to_be_called_puts_the_number_on_the_list(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis, settings: Settings
) -> None:
    _, lead = finished_call(auth, floor)
    assert not dispositions.is_do_not_call(r, settings, lead.phone)
    dispose(auth, client, lead.id, value="do_not_call")
    assert dispositions.is_do_not_call(r, settings, lead.phone)
    assert all(lead.phone not in k for k in r.keys("*"))  # a digest, never the number


def test_call_back_at_schedules_a_requeue_with_rq(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis, services: Any
) -> None:
    _, lead = finished_call(auth, floor)
    at = time.time() + 3600
    response = dispose(auth, client, lead.id, value="call_back_at", callback_epoch=str(at))
    assert response.status_code == 302
    after = get_lead(r, lead.id)
    assert after is not None and after.status == "deferred"
    assert r.zscore(keys.DUE, lead.id) == pytest.approx(at)
    q = Queue(DEFAULT_QUEUE, connection=services.rq_redis, serializer=JSONSerializer)
    registry = ScheduledJobRegistry(queue=q)
    [job_id] = registry.get_job_ids()
    job = q.fetch_job(job_id)
    assert job is not None
    assert job.func_name == "workers.jobs.requeue_lead"
    assert job.args == [lead.id]  # the id only, no personal data
    assert registry.get_scheduled_time(job_id).timestamp() == pytest.approx(at, abs=1)
    assert [e["event"] for e in lead_events(r, lead.id)][-2:] == [
        "disposition",
        "call_back_scheduled",
    ]


def test_call_back_time_without_scripts_is_read_as_utc(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    _, lead = finished_call(auth, floor)
    dispose(auth, client, lead.id, value="call_back_at", callback_at="2099-01-02T03:04")
    assert r.zscore(keys.DUE, lead.id) is None  # more than 30 days away: refused
    soon = time.gmtime(time.time() + 7200)
    local = time.strftime("%Y-%m-%dT%H:%M", soon)
    assert (
        dispose(auth, client, lead.id, value="call_back_at", callback_at=local).status_code == 302
    )
    assert r.zscore(keys.DUE, lead.id) == pytest.approx(time.time() + 7200, abs=120)


def test_console_without_a_counselor_record_explains(
    auth: AuthActions, client: FlaskClient, r: Redis
) -> None:
    auth.create("ann", "admin")
    auth.login("ann")
    page = client.get("/console/")  # an admin may open it, but takes no calls without a record
    assert page.status_code == 409
    assert "not linked to a counselor record" in page.get_data(as_text=True)


def test_a_call_taken_with_the_console_closed_still_gets_its_disposition(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    _, lead, rid = offered_call(auth, floor)  # the console never looks during the call
    floor.bridge(rid)
    floor.hang_up(rid)
    assert f'value="{lead.id}"' in call_box(client)
    assert dispose(auth, client, lead.id, value="information_only").status_code == 302


def test_an_earlier_call_waits_for_its_disposition_behind_a_new_one(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    user, first, rid = offered_call(auth, floor)
    call_box(client)
    floor.bridge(rid)
    floor.hang_up(rid)
    # Wrap-up ends by itself before Dana writes anything; the next callback comes in.
    from routing.counselors import end_wrapup

    assert end_wrapup(r, user.counselor_id)
    second = floor.caller_waiting()
    [rid2] = floor.offer()
    box = call_box(client)
    assert 'id="live-call"' in box and second.id in box  # the new offer on top
    assert f'value="{first.id}"' in box  # the first call's form is still there
    floor.bridge(rid2)
    floor.hang_up(rid2)
    assert f'value="{second.id}"' in call_box(client)  # newest first
    dispose(auth, client, second.id, value="referred")
    assert f'value="{first.id}"' in call_box(client)
    dispose(auth, client, first.id, value="admitted_to_intake")
    assert "disposition-form" not in call_box(client)
    assert dispositions.get(r, first.id)["value"] == "admitted_to_intake"


def button(box: str, button_id: str) -> str:
    """The opening tag of a button in a fragment."""
    match = re.search(r'<button[^>]*id="' + button_id + r'"[^>]*>', box)
    assert match, button_id
    return match.group(0)


def test_one_wording_for_each_phase_of_a_callback_and_buttons_that_match(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis, settings: Settings
) -> None:
    from routing import callbacks

    _, lead, rid = offered_call(auth, floor)
    phases = []

    def seen() -> tuple[str, str]:
        state, call = state_box(client), call_box(client)
        words = re.search(r'id="call-phase">([^<]+)<', call)
        assert words
        for name in ("go-available", "go-offline", "go-break"):
            assert "disabled" in button(state, name)  # the call decides the state now
        return my_state(client), words.group(1)

    phases.append(seen())
    callbacks.call_placed(r, settings, rid, "CA" + "1" * 32)
    assert callbacks.counselor_answered(r, settings, rid, "human")
    phases.append(seen())
    assert callbacks.accept(r, settings, rid)  # pressed 1: the caller's phone rings
    phases.append(seen())
    assert callbacks.caller_answered(r, settings, rid, "CA" + "2" * 32)
    callbacks.machine_detected(r, rid, "human")
    assert callbacks.screen(r, settings, rid, None) is callbacks.Screen.BRIDGE
    phases.append(seen())
    assert phases == [
        ("Phone ringing", "Your phone is ringing: answer and press 1 to accept."),
        ("Phone ringing", "Your phone is ringing: answer and press 1 to accept."),
        ("Calling the caller", "Calling the caller now…"),
        ("On a call", "You are on the call with this caller."),
    ]
    assert f'data-lead="{lead.id}"' in call_box(client)


def test_available_does_not_apply_during_wrap_up_until_the_disposition(
    auth: AuthActions, client: FlaskClient, floor: Floor, r: Redis
) -> None:
    user, lead = finished_call(auth, floor)
    state = state_box(client)
    assert my_state(client) == "Wrap-up"
    assert "disabled" in button(state, "go-available")
    assert "disabled" not in button(state, "go-offline")  # a counselor may still leave
    assert "save how the call ended" in state
    page = post_state(auth, client, "available")
    assert page.status_code == 302
    assert get_counselor(r, user.counselor_id).status == "wrap_up"  # type: ignore[union-attr]
    assert "Save how the call ended first" in client.get("/console/").get_data(as_text=True)
    dispose(auth, client, lead.id, value="referred")
    state = state_box(client)
    assert my_state(client) == "Available"
    assert "disabled" in button(state, "go-available")  # already available
    assert "disabled" not in button(state, "go-offline")


def test_offline_is_not_offered_to_someone_already_offline(
    auth: AuthActions, client: FlaskClient
) -> None:
    auth.as_role("counselor")
    state = state_box(client)
    assert "disabled" in button(state, "go-offline")
    assert "disabled" not in button(state, "go-available")
    assert "disabled" not in button(state, "go-break")
