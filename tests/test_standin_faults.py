"""The stand-in playing the real world on demand (twilio_standin.faults): status callbacks
lost, repeated or late, slow webhooks, account errors, a concurrency cap; and what Twilio
always does: asynchronous detection on <Number>, buffered keys, a caller leaving mid-Dial."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Response
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, wait_until
from tests.test_standin_voice import TwimlServer, dial_doc, done, says
from twilio_standin import Faults, Script
from twilio_standin import faults as presets

HOTLINE = "+18004927848"
CALLER = "+14155550123"
COUNSELOR = "+12125550188"
EVERY_EVENT = ["initiated", "ringing", "answered", "completed"]


@pytest.fixture
def web(standin: Any) -> Iterator[TwimlServer]:
    """Our own webhook server, with the stand-in connected to it."""
    server = TwimlServer()
    standin.connect(server.base)
    yield server
    standin.stop()
    server.stop()


@pytest.fixture
def rest(standin: Any) -> Client:
    """The real twilio library pointed at the stand-in."""
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = standin.url
    return client


def place(rest: Client, web: TwimlServer, to: str = COUNSELOR, **extra: Any) -> str:
    """A REST call to ``to`` reporting every progress event to /status; its SID."""
    return str(
        rest.calls.create(
            to=to,
            from_=HOTLINE,
            url=web.url("/answer"),
            status_callback=web.url("/status"),
            status_callback_event=EVERY_EVENT,
            **extra,
        ).sid
    )


def sequence(web: TwimlServer, path: str = "/status") -> list[tuple[str, str]]:
    """(SequenceNumber, CallStatus) of the callbacks to ``path``, in arrival order."""
    return [(f["SequenceNumber"], f["CallStatus"]) for f in web.to(path)]


# --- Status callbacks: lost, twice, late -------------------------------------------------


def test_lost_status_callbacks_never_arrive_but_the_call_resource_tells_the_truth(
    standin, web, rest
):
    standin.set_faults(Faults(lose_status_callbacks=1.0))
    web.on("/answer", says("Hello."))
    sid = place(rest, web)
    call = done(standin, sid)
    assert web.to("/status") == []
    # TwiML is never lost: the call ran its document.
    assert len(web.to("/answer")) == 1 and call.said() == ["Hello."]
    fetched = rest.calls(sid).fetch()
    assert fetched.status == "completed" and int(fetched.duration) >= 0
    assert [e["kind"] for e in call.log if e["event"] == "lost"] == [
        "status:initiated",
        "status:ringing",
        "status:answered",
        "status:completed",
    ]


def test_lost_status_callbacks_include_the_inbound_numbers(standin, web):
    standin.set_faults(Faults(lose_status_callbacks=1.0))
    web.on("/twilio/voice", says("Goodbye.", hangup=True))
    call = done(standin, standin.dial_in(CALLER).sid)
    assert len(web.to("/twilio/voice")) == 1
    assert web.to("/twilio/status") == []
    assert call.status == "completed"


def test_lost_callbacks_follow_the_seed(standin, web, rest):
    """Half are lost; the same seed loses the same ones again, and SequenceNumber shows gaps."""
    web.on("/answer", VoiceResponse())

    def run(seed: int) -> list[str]:
        before = len(web.to("/status"))
        standin.set_faults(Faults(seed=seed, lose_status_callbacks=0.5))
        call = done(standin, place(rest, web))
        time.sleep(0.1)
        numbers = [s for s, _ in sequence(web)[before:]]
        lost = [e for e in call.log if e["event"] == "lost"]
        assert len(numbers) + len(lost) == 4
        return numbers

    first = run(11)
    assert 0 < len(first) < 4, "seed 11 loses some but not all (pick another seed if not)"
    assert run(11) == first
    # What arrives keeps its own number: the lost ones leave gaps.
    assert first == sorted(first) and set(first) < {"0", "1", "2", "3"}


def test_duplicated_status_callbacks_arrive_twice_with_the_same_sequence_number(standin, web, rest):
    standin.set_faults(Faults(duplicate_status_callbacks=1.0))
    web.on("/answer", VoiceResponse())
    done(standin, place(rest, web))
    assert sequence(web) == [
        ("0", "queued"),
        ("0", "queued"),
        ("1", "ringing"),
        ("1", "ringing"),
        ("2", "in-progress"),
        ("2", "in-progress"),
        ("3", "completed"),
        ("3", "completed"),
    ]
    first, second = web.to("/status")[-2:]
    assert first == second  # the very same request, Timestamp included


def test_delayed_status_callbacks_arrive_late_and_out_of_order(standin, web, rest):
    standin.set_faults(Faults(seed=3, delay_status_callbacks=60.0))
    web.on("/answer", VoiceResponse())
    sid = place(rest, web)
    done(standin, sid)
    arrived = wait_until(lambda: len(web.to("/status")) == 4 and sequence(web), 10)
    numbers = [n for n, _ in arrived]
    assert sorted(numbers) == ["0", "1", "2", "3"]
    assert numbers != ["0", "1", "2", "3"], f"delivered in order: {arrived}"
    # The call had ended before its last callback arrived; SequenceNumber restores order.
    assert {s for _, s in arrived} == {"queued", "ringing", "in-progress", "completed"}


def test_without_delay_callbacks_arrive_in_line_and_in_order(standin, web, rest):
    """The default: each callback is delivered before the call goes on."""
    web.on("/answer", VoiceResponse())
    done(standin, place(rest, web))
    assert [n for n, _ in sequence(web)] == ["0", "1", "2", "3"]


def test_status_callbacks_carry_twilios_parameters(standin, web, rest):
    web.on("/answer", VoiceResponse())
    standin.phone(CALLER, Script.fails(error_code="13224"))
    sid = place(rest, web, to=CALLER)
    done(standin, sid)
    callbacks = web.to("/status")
    assert [f["CallStatus"] for f in callbacks] == ["queued", "ringing", "failed"]
    for form in callbacks:
        assert form["CallbackSource"] == "call-progress-events"
        assert form["Timestamp"] and form["CallSid"] == sid
        assert form["AccountSid"] == ACCOUNT_SID
    final = callbacks[-1]
    assert final["CallDuration"] == "0" and final["ErrorCode"] == "13224"


# --- Webhook timeout ---------------------------------------------------------------------


def test_a_webhook_slower_than_the_timeout_is_an_application_error(standin, web, rest):
    standin.set_faults(Faults(webhook_timeout=0.3))

    def slow(form: dict[str, str]) -> VoiceResponse:
        time.sleep(1.0)
        return says("Too late.")

    web.on("/answer", slow)
    call = done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert call.said() == ["An application error has occurred. Goodbye."]
    assert {"event": "error", "detail": "11205 HTTP connection failure"} in call.log
    [request] = [e for e in call.log if e["event"] == "request"]
    assert request["code"] == "11205" and "retried" not in request  # a timeout is not retried
    assert standin.webhook_errors[0]["kind"] == "twiml"


def test_the_webhook_timeout_applies_to_an_attached_app_too(standin):
    from flask import Flask

    app = Flask("slow")

    @app.post("/twilio/voice")
    def voice() -> Response:
        time.sleep(0.5)
        return Response("<Response><Say>Late.</Say></Response>", mimetype="text/xml")

    standin.attach(app, "https://hotline.example.org")
    standin.set_faults(Faults(webhook_timeout=0.2))
    call = done(standin, standin.dial_in(CALLER).sid)
    assert call.said() == ["An application error has occurred. Goodbye."]
    standin.set_faults(Faults())
    call = done(standin, standin.dial_in(CALLER).sid)
    assert call.said() == ["Late."]


# --- Account errors and the concurrency cap ----------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        presets.UNVERIFIED_FROM,
        presets.GEO_PERMISSIONS,
        presets.AUTHENTICATE,
        presets.TRIAL_UNVERIFIED_TO,
        presets.TOO_MANY_REQUESTS,
    ],
)
def test_an_account_error_fails_every_create_until_cleared(standin, rest, error):
    status, code, message = error
    standin.set_faults(Faults(account_error=error))
    for _ in range(2):
        with pytest.raises(TwilioRestException) as err:
            rest.calls.create(to=CALLER, from_=HOTLINE, url="https://example.org/a")
        assert (err.value.status, err.value.code) == (status, code)
        assert err.value.msg.endswith(message)
    assert standin.calls == []
    standin.set_faults(Faults())
    assert rest.calls.create(to=CALLER, from_=HOTLINE, url="https://example.org/a").sid


def test_account_error_body_has_twilios_shape(standin):
    standin.set_faults(Faults(account_error=presets.GEO_PERMISSIONS))
    response = requests.post(
        f"{standin.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
        data={"To": CALLER, "From": HOTLINE, "Url": "https://example.org/a"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": 21215,
        "message": presets.GEO_PERMISSIONS[2],
        "more_info": "https://www.twilio.com/docs/errors/21215",
        "status": 400,
    }


def test_the_concurrency_cap_refuses_calls_beyond_it_until_one_ends(standin, rest):
    standin.set_faults(Faults(max_concurrent_calls=2))
    url = "https://example.org/a"
    first = rest.calls.create(to=CALLER, from_=HOTLINE, url=url).sid
    rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=url)
    with pytest.raises(TwilioRestException) as err:
        rest.calls.create(to="+13055550100", from_=HOTLINE, url=url)
    assert (err.value.status, err.value.code) == (429, 20429)
    assert len(standin.calls) == 2
    rest.calls(first).update(status="canceled")
    assert rest.calls.create(to="+13055550100", from_=HOTLINE, url=url).status == "queued"


def test_fail_next_still_injects_single_errors(standin, rest):
    standin.fail_next(503, 20500, "Service Unavailable", operation="fetch")
    sid = rest.calls.create(to=CALLER, from_=HOTLINE, url="https://example.org/a").sid
    with pytest.raises(TwilioRestException) as err:
        rest.calls(sid).fetch()
    assert err.value.code == 20500
    assert rest.calls(sid).fetch().sid == sid


# --- Asynchronous answering-machine detection on <Number> --------------------------------


def screened_dial(web: TwimlServer, detection: str, amd_callback: bool = True) -> VoiceResponse:
    attrs = {"url": web.url("/screen"), "machine_detection": detection}
    if amd_callback:
        attrs["amd_status_callback"] = web.url("/amd")
    return dial_doc(web, CALLER, **attrs)


def long_whisper() -> VoiceResponse:
    """TwiML on the dialed leg that outlasts detection, then speaks."""
    doc = VoiceResponse()
    doc.pause(length=20)
    doc.say("Please call us back.")
    doc.hangup()
    return doc


@pytest.mark.parametrize(
    ("script", "detection", "answered_by", "duration"),
    [
        (Script.voicemail(), "DetectMessageEnd", "machine_end_beep", "8000"),
        (Script.voicemail(), "Enable", "machine_start", "3000"),
        (Script.answers(), "DetectMessageEnd", "human", "2500"),
        (Script("unknown"), "DetectMessageEnd", "unknown", "5000"),
        (Script.fax(), "Enable", "fax", "3000"),
        (Script("machine", answered_by="machine_end_silence"), "DetectMessageEnd",
         "machine_end_silence", "8000"),
    ],
)  # fmt: skip
def test_number_detection_is_asynchronous_and_posts_its_result(
    standin, web, rest, script, detection, answered_by, duration
):
    web.on("/answer", screened_dial(web, detection))
    web.on("/screen", long_whisper())
    web.on("/dial-result", VoiceResponse())
    standin.phone(CALLER, script)
    parent = done(
        standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid
    )
    [screen] = web.to("/screen")
    assert "AnsweredBy" not in screen  # the url did not wait for detection
    [amd] = web.to("/amd")
    [result] = web.to("/dial-result")
    child_sid = result["DialCallSid"]
    assert amd["AnsweredBy"] == answered_by and amd["MachineDetectionDuration"] == duration
    assert amd["CallSid"] == child_sid == screen["CallSid"]
    assert amd["AccountSid"] == ACCOUNT_SID and amd["ParentCallSid"] == parent.sid
    paths = [path for path, _, _ in web.requests]
    assert paths.index("/screen") < paths.index("/amd")
    assert rest.calls(child_sid).fetch().answered_by == answered_by
    # What the dialed phone (a voicemail, say) heard is on its leg.
    assert standin.registry.get(child_sid).said() == ["Please call us back."]


def test_number_detection_without_amd_callback_posts_nothing_but_the_call_has_it(
    standin, web, rest
):
    web.on("/answer", screened_dial(web, "DetectMessageEnd", amd_callback=False))
    web.on("/screen", long_whisper())
    web.on("/dial-result", VoiceResponse())
    standin.phone(CALLER, Script.voicemail())
    done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert web.to("/amd") == []
    child_sid = web.to("/dial-result")[0]["DialCallSid"]
    assert rest.calls(child_sid).fetch().answered_by == "machine_end_beep"


def test_amd_callbacks_can_be_lost_too(standin, web, rest):
    standin.set_faults(Faults(lose_status_callbacks=1.0))
    web.on("/answer", screened_dial(web, "Enable"))
    web.on("/screen", long_whisper())
    web.on("/dial-result", VoiceResponse())
    standin.phone(CALLER, Script.voicemail())
    done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert web.to("/amd") == []
    assert len(web.to("/dial-result")) == 1  # a TwiML request, never lost
    child_sid = web.to("/dial-result")[0]["DialCallSid"]
    assert rest.calls(child_sid).fetch().answered_by == "machine_start"


def test_rest_synchronous_detection_reports_unknown(standin, web, rest):
    web.on("/answer", VoiceResponse())
    standin.phone(CALLER, Script("unknown"))
    sid = rest.calls.create(
        to=CALLER, from_=HOTLINE, url=web.url("/answer"), machine_detection="Enable"
    ).sid
    done(standin, sid)
    assert web.to("/answer")[0]["AnsweredBy"] == "unknown"


# --- Keys typed ahead --------------------------------------------------------------------


def number_then_confirm(web: TwimlServer, confirm: Gather) -> None:
    """/answer asks for ten digits; /number asks to confirm with ``confirm`` (to /confirm);
    /confirm asks for one more key (to /last)."""
    ask = VoiceResponse()
    ask.gather(action=web.url("/number"), num_digits=10, timeout=5).say("Your number.")
    web.on("/answer", ask)
    doc = VoiceResponse()
    confirm.say("Press 1 if that is right.")
    doc.append(confirm)
    web.on("/number", doc)
    last = VoiceResponse()
    last.gather(action=web.url("/last"), num_digits=1).say("Anything else?")
    web.on("/confirm", last)
    web.on("/last", VoiceResponse())


def test_keys_beyond_num_digits_end_the_next_gather_on_its_finish_key(standin, web, rest):
    number_then_confirm(
        web, Gather(action=web.url("/confirm"), num_digits=1, action_on_empty_result=True)
    )
    standin.phone(COUNSELOR, Script.answers("2125550123#", "7"))
    call = done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert web.to("/number")[0]["Digits"] == "2125550123"
    [confirm] = web.to("/confirm")
    assert confirm["Digits"] == "" and confirm["FinishedOnKey"] == "#"
    # The buffered # ended that Gather: the person's next entry goes to the one after.
    assert web.to("/last")[0]["Digits"] == "7"
    assert [e["digits"] for e in call.log if e["event"] == "digits"] == ["2125550123", "#", "7"]


def test_buffered_pound_is_a_digit_where_there_is_no_finish_key(standin, web, rest):
    number_then_confirm(web, Gather(action=web.url("/confirm"), num_digits=1, finish_on_key=""))
    standin.phone(COUNSELOR, Script.answers("2125550123#", "7"))
    done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert web.to("/confirm")[0]["Digits"] == "#"
    assert "FinishedOnKey" not in web.to("/confirm")[0]


def test_buffered_keys_that_do_not_end_a_gather_are_joined_by_the_next_ones(standin, web, rest):
    number_then_confirm(web, Gather(action=web.url("/confirm"), num_digits=3))
    standin.phone(COUNSELOR, Script.answers("212555012345", "6"))
    done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert web.to("/confirm")[0]["Digits"] == "456"


def test_keypad_keys_beyond_num_digits_carry_over(standin, web):
    number_then_confirm(
        web, Gather(action=web.url("/confirm"), num_digits=1, action_on_empty_result=True)
    )
    web.on("/twilio/voice", lambda form: web.handlers["/answer"](form))
    call = standin.dial_in(CALLER, Script.browser())
    wait_until(lambda: any(e["event"] == "gather" for e in call.log))
    standin.people[call.sid].press("2125550123#")
    wait_until(lambda: web.to("/confirm"))
    assert web.to("/number")[0]["Digits"] == "2125550123"
    assert web.to("/confirm")[0]["FinishedOnKey"] == "#"
    standin.people[call.sid].hang_up()
    done(standin, call.sid)


# --- The caller leaves during a <Dial> ---------------------------------------------------


def test_parent_hanging_up_while_the_dialed_phone_rings_cancels_it(standin, web, rest):
    web.on(
        "/answer",
        dial_doc(
            web,
            CALLER,
            status_callback=web.url("/child-status"),
            status_callback_event="initiated ringing answered completed",
        ),
    )
    web.on("/dial-result", says("Never heard."))
    standin.phone(COUNSELOR, Script.answers().hangs_up_in_dial_after(5))
    standin.phone(CALLER, Script.answers(ring_seconds=15))
    parent = done(
        standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid
    )
    [result] = web.to("/dial-result")
    assert result["CallStatus"] == "completed"
    assert result["DialCallStatus"] == "canceled" and result["DialBridged"] == "false"
    assert "DialCallDuration" not in result
    child = standin.registry.get(result["DialCallSid"])
    assert child.status == "canceled" and child.start_time is None
    assert [f["CallStatus"] for f in web.to("/child-status")] == ["queued", "ringing", "canceled"]
    assert parent.status == "completed" and parent.said() == []
    assert {"event": "person-hung-up"} in parent.log


def test_parent_hanging_up_mid_conversation_reports_the_bridged_call(standin, web, rest):
    web.on("/answer", dial_doc(web, CALLER))
    web.on("/dial-result", VoiceResponse())
    standin.phone(COUNSELOR, Script.answers(talk_seconds=600).hangs_up_in_dial_after(30))
    standin.phone(CALLER, Script.caller(talk_seconds=600))
    done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    [result] = web.to("/dial-result")
    assert result["CallStatus"] == "completed"
    assert result["DialCallStatus"] == "completed" and result["DialBridged"] == "true"
    assert 20 <= int(result["DialCallDuration"]) <= 40


def test_parent_hang_up_survives_the_control_apis_json():
    script = Script.answers("1").hangs_up_in_dial_after(4.5)
    assert Script.from_dict(json.loads(json.dumps(script.to_dict()))) == script
    assert Script.from_dict({"answer": "human"}).hang_up_in_dial_after is None
    with pytest.raises(ValueError):
        Script.from_dict({"answered_by": "robot"})


# --- Setting faults: Python, control API, command line -----------------------------------


def test_faults_are_off_by_default_and_replaceable(standin):
    assert standin.faults == Faults()
    standin.faults = Faults(duplicate_status_callbacks=0.5, seed=9)
    assert standin.faults.seed == 9


def test_control_api_reads_and_replaces_faults(standin):
    base = f"{standin.url}/_standin/faults"
    assert requests.get(base, timeout=5).json() == Faults().to_dict()
    put = requests.put(
        base, json={"lose_status_callbacks": 0.25, "seed": 4, "account_error": 21210}, timeout=5
    )
    assert put.status_code == 200
    assert standin.faults == Faults(
        lose_status_callbacks=0.25, seed=4, account_error=presets.UNVERIFIED_FROM
    )
    assert requests.get(base, timeout=5).json()["account_error"] == list(presets.UNVERIFIED_FROM)
    custom = requests.put(base, json={"account_error": [403, 20403, "Forbidden"]}, timeout=5)
    assert custom.json()["account_error"] == [403, 20403, "Forbidden"]
    assert standin.faults.lose_status_callbacks == 0.0  # a PUT replaces every fault
    requests.put(base, json={}, timeout=5)
    assert standin.faults == Faults()


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"lose_status_callbacks": 2},
        {"webhook_timeout": 0},
        {"no_such_fault": 1},
        {"account_error": 99999},
        {"account_error": [400, 1]},
        {"max_concurrent_calls": -1},
    ],
)
def test_control_api_refuses_bad_faults(standin, body):
    response = requests.put(f"{standin.url}/_standin/faults", json=body, timeout=5)
    assert response.status_code == 400 and response.json()["error"]
    assert standin.faults == Faults()


def test_command_line_takes_faults():
    from tests.test_standin_process import free_port

    port = free_port()
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PATH": ""}
    faults = {"duplicate_status_callbacks": 1.0, "max_concurrent_calls": 3}
    proc = subprocess.Popen(
        [sys.executable, "-m", "twilio_standin", "--port", str(port), "--faults",
         json.dumps(faults)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/_standin/faults"

    def shown() -> dict[str, Any] | None:
        try:
            return requests.get(base, timeout=1).json()  # type: ignore[no-any-return]
        except requests.ConnectionError:
            return None

    try:
        assert wait_until(shown, 15, interval=0.1) == Faults.from_dict(faults).to_dict()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run(
        [sys.executable, "-m", "twilio_standin", "--faults", '{"seed": [1]}'],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "--faults" in bad.stderr


def test_dial_doc_with_amd_is_valid_twiml(web):
    """The <Number> attributes the AMD tests use are the ones Twilio's library writes."""
    doc = str(screened_dial(web, "Enable"))
    assert 'amdStatusCallback="' in doc and 'machineDetection="Enable"' in doc
