"""Whole calls, from dial-in to bridged callback: the real web app served over HTTP, a real
Redis, real ``hotline worker`` processes, and the real twilio client talking to the Twilio
stand-in, which rings scripted phones and runs our TwiML the way Twilio does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from routing import keys
from tests.conftest import wait_until
from tests.served import Line
from twilio_standin import HANG_UP, Script

pytestmark = pytest.mark.e2e

HOTLINE = "+18004927848"
#: IVR answers: English, for myself, not urgent, PPO, callback on this caller ID.
IVR_EN = ("1", "1", "2", "1", "1")
#: Spanish, for someone else, urgent, Medicaid, callback on this caller ID.
IVR_ES_URGENT = ("2", "2", "1", "3", "1")
#: Words that must never reach a voicemail (42 CFR Part 2).
FORBIDDEN_ON_VOICEMAIL = (
    "addiction",
    "treatment",
    "hotline",
    "withdrawal",
    "drug",
    "alcohol",
    "adicci",
    "tratamiento",
)


# --- The happy path --------------------------------------------------------------------


def test_caller_is_called_back_and_bridged_to_a_counselor(line: Line):
    counselor_id = line.counselor("Ana", "+12125550101", Script.answers("1", talk_seconds=300))
    call = line.calls_in("+14155550111", IVR_EN, Script.answers(talk_seconds=120))
    lead_id = line.lead_of(call)
    lead = line.wait_status(lead_id, "connected")
    line.settle()

    [counselor_leg] = line.legs_to("+12125550101")
    assert counselor_leg.direction == "outbound-api"
    whisper = " ".join(counselor_leg.said()).lower()
    assert "press 1" in whisper
    [caller_leg] = line.legs_to("+14155550111")
    assert caller_leg.direction == "outbound-dial"
    assert caller_leg.parent_call_sid == counselor_leg.sid
    assert caller_leg.from_ == HOTLINE, "the caller sees the hotline number"
    assert any(e["event"] == "bridged" for e in caller_leg.log)
    assert caller_leg.duration >= 120
    assert [a.get("outcome") for a in lead["attempts"]][-1:] == ["connected"]
    # After wrap-up the counselor is available again.
    wait_until(lambda: line.counselor_state(counselor_id)["status"] == "available", 15)
    assert line.standin.anomalies == [] and line.standin.webhook_errors == []


def test_spanish_caller_hears_spanish_and_is_served_in_spanish(line: Line):
    line.counselor("Luz", "+12125550102", Script.answers("1"), languages=("es",))
    call = line.calls_in("+14155550112", IVR_ES_URGENT, Script.answers())
    lead = line.wait_status(line.lead_of(call), "connected")
    assert lead["lead"]["language"] == "es" and lead["lead"]["urgent"] is True
    assert lead["lead"]["insurance"] == "medicaid"
    inbound = line.standin.registry.get(call.sid)
    spanish = [e for e in inbound.log if e["event"] == "say" and e["language"] == "es-US"]
    assert len(spanish) >= 4, "every menu after the language choice is in Spanish"


# --- Counselor side: no answer, decline, voicemail -------------------------------------


@pytest.mark.parametrize(
    "first_counselor",
    [
        Script.rings_out(),
        Script.declines("2"),
        Script.declines(),
        Script.voicemail(),
        Script.ignores_whisper(),
    ],
    ids=["rings-out", "presses-2", "hangs-up", "voicemail", "whisper-times-out"],
)
def test_a_missed_offer_goes_to_the_next_counselor_without_costing_an_attempt(
    line: Line, first_counselor: Script
):
    missed_id = line.counselor("Ben", "+12125550103", first_counselor)
    line.counselor("Cal", "+12125550104", Script.answers("1"))
    call = line.calls_in("+14155550113", IVR_EN, Script.answers())
    lead = line.wait_status(line.lead_of(call), "connected")
    line.settle()
    assert len(line.legs_to("+12125550103")) >= 1
    assert len(line.legs_to("+14155550113")) == 1, "the caller was dialed once"
    assert [a.get("outcome") for a in lead["attempts"]] == ["connected"]
    if first_counselor.answer == "machine":
        assert line.legs_to("+12125550103")[0].answered_by == "machine_start"
    missed = line.counselor_state(missed_id)
    assert missed["status"] in ("missed", "available", "offline")
    assert missed["missed_offers"] >= 1
    assert line.standin.anomalies == []


# --- Caller side: busy, no answer, machine, retries ------------------------------------


@pytest.mark.parametrize(
    ("first_try", "outcome"),
    [(Script.busy(), "busy"), (Script.rings_out(), "no-answer"), (Script.voicemail(), "machine")],
)
def test_a_caller_not_reached_is_retried_and_then_connected(
    line: Line, first_try: Script, outcome: str
):
    line.counselor("Dee", "+12125550105", Script.answers("1"))
    call = line.calls_in("+14155550114", IVR_EN, first_try, Script.answers())
    lead = line.wait_status(line.lead_of(call), "connected")
    line.settle()
    outcomes = [a.get("outcome") for a in lead["attempts"]]
    assert outcomes == [outcome, "connected"], outcomes
    assert len(line.legs_to("+14155550114")) == 2
    assert line.standin.anomalies == []


def test_a_voicemail_never_says_what_we_are(line: Line):
    line.counselor("Eve", "+12125550106", Script.answers("1"))
    call = line.calls_in("+14155550115", IVR_EN, Script.voicemail())
    line.wait_status(line.lead_of(call), "retry_wait", "waiting", "reserved", "connected")
    wait_until(lambda: any(c.is_final for c in line.legs_to("+14155550115")), 20)
    first = line.legs_to("+14155550115")[0]
    assert first.answered_by == "machine_end_beep"
    message = " ".join(first.said()).lower()
    assert all(word not in message for word in FORBIDDEN_ON_VOICEMAIL), message


def test_retries_exhausted_marks_the_lead_unreachable(line: Line):
    counselor_id = line.counselor("Fay", "+12125550107", Script.answers("1"))
    call = line.calls_in("+14155550116", IVR_EN, Script.busy())
    lead = line.wait_status(line.lead_of(call), "unreachable", timeout=45)
    line.settle()
    # RETRY_DELAYS="1,1": the first attempt and two retries.
    assert [a.get("outcome") for a in lead["attempts"]] == ["busy", "busy", "busy"]
    assert len(line.legs_to("+14155550116")) == 3
    wait_until(lambda: line.counselor_state(counselor_id)["status"] == "available", 15)
    assert line.standin.anomalies == []


# --- The IVR ---------------------------------------------------------------------------


def test_hanging_up_mid_ivr_still_makes_a_lead(line: Line):
    call = line.calls_in("+14155550117", ("1", "1", HANG_UP))
    lead_id = line.lead_of(call)
    lead = line.wait_status(lead_id, "waiting")
    assert lead["lead"]["status"] == "waiting"
    assert line.standin.registry.get(call.sid).status == "completed"
    events = " ".join(str(e) for e in lead["events"]).lower()
    assert "abandon" in events


def test_silent_caller_is_reprompted_and_still_queued_with_safe_defaults(line: Line):
    call = line.calls_in("+14155550118", (None,) * 20)
    lead = line.wait_status(line.lead_of(call, timeout=40), "waiting", timeout=40)
    assert lead["lead"]["insurance"] == "unknown"
    said = line.standin.registry.get(call.sid).said()
    assert len(said) > 10, "each menu was asked again before moving on"


# --- More of the IVR: a keyed-in number, a caller who calls again ------------------------


def test_withheld_caller_id_keys_in_a_number_that_is_called_back(line: Line):
    line.counselor("Gus", "+12125550108", Script.answers("1"))
    keyed = "+14155550121"
    line.standin.phone(keyed, Script.answers())
    # Withheld caller ID: the IVR goes straight to keying a number in, reads it back.
    call = line.calls_in("anonymous", ("1", "1", "2", "1", "4155550121#", "1"))
    lead = line.wait_status(line.lead_of(call), "connected")
    assert lead["lead"]["phone"].endswith("21")
    line.settle()
    [callback] = line.legs_to(keyed)
    assert any(e["event"] == "bridged" for e in callback.log)


def test_a_caller_who_calls_again_can_cancel_their_callback(line: Line):
    number = "+14155550122"
    first = line.calls_in(number, IVR_EN)
    lead_id = line.lead_of(first)
    line.wait_status(lead_id, "waiting")  # no counselor on duty yet
    line.settle()
    second = line.calls_in(number, ("2",))  # the pending menu: 2 cancels
    line.wait_status(lead_id, "cancelled")
    assert line.lead_of(second) == lead_id or not line.r.get(keys.CALL_LEAD.format(second.sid))
    line.counselor("Hal", "+12125550109", Script.answers("1"))
    line.settle()
    assert line.legs_to(number) == [], "a cancelled callback is never dialed"


# --- Twilio refusing the REST call ---------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (503, 20500)])
def test_a_transient_rest_error_is_retried(line: Line, status: int, code: int):
    line.standin.fail_next(status, code, "try again later")
    line.counselor("Ivy", "+12125550110", Script.answers("1"))
    call = line.calls_in("+14155550123", IVR_EN, Script.answers())
    line.wait_status(line.lead_of(call), "connected")
    assert len(line.standin.calls) == 1, "the refused request placed no call; the retry did"


def test_a_permanent_error_on_the_caller_leg_marks_the_lead_failed(line: Line):
    counselor_id = line.counselor("Jo", "+12125550111", Script.answers("1"))
    call = line.calls_in("+14155550124", IVR_EN, Script.fails(error_code="13223"))
    lead = line.wait_status(line.lead_of(call), "failed")
    assert "13223" in lead["lead"]["status_reason"]
    line.settle()
    assert len(line.legs_to("+14155550124")) == 1, "a permanent error is not retried"
    wait_until(lambda: line.counselor_state(counselor_id)["status"] == "available", 15)


def test_a_retry_outside_the_callers_hours_waits_for_them(start_line: Callable[..., Line]):
    # A window that is closed now in the caller's zone (415: Los Angeles).
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("America/Los_Angeles"))
    opens, closes = now + timedelta(hours=3), now + timedelta(hours=4)
    line = start_line(CALLING_HOURS=f"{opens:%H:%M}-{closes:%H:%M}")
    line.counselor("Kim", "+12125550112", Script.answers("1"))
    call = line.calls_in("+14155550125", IVR_EN, Script.busy(), Script.answers())
    # The first callback goes out (they called a moment ago); the retry waits for the window.
    lead = line.wait_status(line.lead_of(call), "retry_wait", "deferred")
    [scheduled] = [e for e in lead["events"] if e["event"] == "retry_scheduled"]
    window = opens.replace(second=0, microsecond=0).timestamp()
    assert window <= scheduled["due"] < window + 3600, "due when the caller's window opens"
    line.settle()
    assert len(line.legs_to("+14155550125")) == 1, "no retry outside calling hours"
    assert [a.get("outcome") for a in lead["attempts"]] == ["busy"]


# --- The try-it page, through the served app ------------------------------------------------


def test_try_it_page_call_ends_in_a_callback_shown_on_the_page(line: Line):
    import re

    from hotline.users import create_user

    create_user(line.r, "demo-sup", "correct horse battery", "supervisor")
    browser = requests.Session()
    login_page = browser.get(line.base + "/login", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)  # type: ignore[union-attr]
    signed_in = browser.post(
        line.base + "/login",
        data={"username": "demo-sup", "password": "correct horse battery", "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302
    page = browser.get(line.base + "/try-it", timeout=10).text
    headers = {"X-CSRFToken": re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)}  # type: ignore[union-attr]
    line.counselor("Lou", "+12125550113", Script.answers("1", talk_seconds=200))
    started = browser.post(
        line.base + "/try-it/calls", json={"from": "+14155550126"}, headers=headers, timeout=10
    )
    assert started.status_code == 201, started.text
    sid = started.json()["sid"]

    def state() -> dict[str, Any]:
        return browser.get(f"{line.base}/try-it/calls/{sid}", timeout=10).json()  # type: ignore[no-any-return]

    for step, key in enumerate(IVR_EN):
        wait_until(
            lambda step=step: (
                # a menu waits, after the keys pressed so far (the page shows a past
                # menu by the keys pressed at it, and only the waiting one as a gather)
                state()["waiting_for_keys"]
                and sum(1 for x in state()["transcript"] if x["kind"] == "digits") == step
            ),
            15,
        )
        pressed = browser.post(
            f"{line.base}/try-it/calls/{sid}/digits",
            json={"digits": key},
            headers=headers,
            timeout=10,
        )
        assert pressed.status_code == 204
    shown = wait_until(lambda: (lambda s: s if s["callbacks"] else None)(state()), 30)
    callback = shown["callbacks"][0]
    wait_until(
        lambda: any(x["kind"] == "bridged" for x in state()["callbacks"][0]["transcript"]), 30
    )
    assert callback["status"] in ("ringing", "in-progress", "completed", "queued")
