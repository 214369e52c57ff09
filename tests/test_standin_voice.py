"""The stand-in's voice side against small TwiML documents served here (not Hotline's):
how it rings, answers, executes TwiML, signs requests and reports status, per Twilio's docs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse
from werkzeug.serving import make_server

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, wait_until
from twilio_standin import HANG_UP, Script

HOTLINE = "+18004927848"
CALLER = "+14155550123"
COUNSELOR = "+12125550188"

Handler = Callable[[dict[str, str]], Any]


class TwimlServer:
    """A tiny webhook server: TwiML per path, every request recorded with its signature check."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.requests: list[tuple[str, dict[str, str], bool]] = []
        self.app = Flask("twiml-test")
        self.app.add_url_rule("/<path:path>", "any", self._view, methods=["GET", "POST"])
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def _view(self, path: str) -> Response:
        form = request.form.to_dict() if request.method == "POST" else request.args.to_dict()
        valid = RequestValidator(AUTH_TOKEN).validate(
            request.url,
            request.form if request.method == "POST" else {},
            request.headers.get("X-Twilio-Signature", ""),
        )
        self.requests.append(("/" + path, form, valid))
        handler = self.handlers.get("/" + path)
        if handler is None:
            return (
                Response("", 200, mimetype="text/xml")
                if path.startswith("status")
                else Response("not found", 404)
            )
        body = handler(form)
        if isinstance(body, Response):
            return body
        return Response(str(body), 200, mimetype="text/xml")

    def on(self, path: str, handler: Handler | VoiceResponse) -> None:
        """Answer ``path`` with TwiML (a document, or a function of the request form)."""
        self.handlers[path] = handler if callable(handler) else (lambda form, doc=handler: doc)

    def url(self, path: str) -> str:
        """Absolute URL of ``path``."""
        return self.base + path

    def to(self, path: str) -> list[dict[str, str]]:
        """Forms of every request made to ``path``."""
        return [form for p, form, _ in self.requests if p == path]

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


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


def done(standin: Any, sid: str) -> Any:
    """The call once it has ended."""
    call = standin.registry.get(sid)
    assert call.done.wait(10), f"call {sid} did not end: {call.status}"
    return call


def says(text: str = "", hangup: bool = False) -> VoiceResponse:
    """A document that says ``text`` (and hangs up)."""
    doc = VoiceResponse()
    if text:
        doc.say(text)
    if hangup:
        doc.hangup()
    return doc


def rejects(reason: str) -> VoiceResponse:
    """A document that rejects the call."""
    doc = VoiceResponse()
    doc.reject(reason=reason)
    return doc


def menu(web: TwimlServer, action: str = "/menu-result") -> VoiceResponse:
    doc = VoiceResponse()
    gather = doc.gather(action=web.url(action), num_digits=1)
    gather.say("Press 1 to accept.")
    doc.say("We did not get your answer.")
    return doc


def test_outbound_call_runs_twiml_and_reports_each_asked_event(standin, web, rest):
    web.on("/answer", menu(web))
    web.on("/menu-result", says("Thank you.", hangup=True))
    standin.phone(COUNSELOR, Script.answers("1"))
    sid = rest.calls.create(
        to=COUNSELOR,
        from_=HOTLINE,
        url=web.url("/answer"),
        status_callback=web.url("/status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    ).sid
    call = done(standin, sid)
    assert call.status == "completed"
    statuses = [(f["CallStatus"], f["SequenceNumber"]) for f in web.to("/status")]
    assert statuses == [("queued", "0"), ("ringing", "1"), ("in-progress", "2"), ("completed", "3")]
    completed = web.to("/status")[-1]
    assert int(completed["CallDuration"]) >= 1
    [answer] = web.to("/answer")
    assert answer["CallSid"] == sid and answer["Direction"] == "outbound-api"
    assert answer["From"] == HOTLINE and answer["To"] == COUNSELOR
    assert answer["CallStatus"] == "in-progress" and answer["AccountSid"] == ACCOUNT_SID
    assert answer["ApiVersion"] == "2010-04-01"
    assert "AnsweredBy" not in answer  # only with MachineDetection
    assert web.to("/menu-result")[0]["Digits"] == "1"
    assert all(valid for _, _, valid in web.requests), "every request carries a valid signature"
    assert call.said() == ["Press 1 to accept.", "Thank you."]


def test_only_completed_is_reported_by_default(standin, web, rest):
    web.on("/answer", VoiceResponse())
    sid = rest.calls.create(
        to=COUNSELOR, from_=HOTLINE, url=web.url("/answer"), status_callback=web.url("/status")
    ).sid
    done(standin, sid)
    assert [f["CallStatus"] for f in web.to("/status")] == ["completed"]


def test_gather_without_input_falls_through_to_the_next_verb(standin, web, rest):
    web.on("/answer", menu(web))
    standin.phone(COUNSELOR, Script.ignores_whisper())
    call = done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert web.to("/menu-result") == []
    assert call.said() == ["Press 1 to accept.", "We did not get your answer."]


def test_gather_defaults_action_to_the_document_and_stops_at_finish_on_key(standin, web, rest):
    doc = VoiceResponse()
    doc.gather().say("Enter your number, then press pound.")
    web.on("/answer", lambda form: says(hangup=True) if "Digits" in form else doc)
    standin.phone(COUNSELOR, Script.answers("4155#99"))
    done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    second = web.to("/answer")[1]
    assert second["Digits"] == "4155" and second["FinishedOnKey"] == "#"


def test_num_digits_cuts_input(standin, web, rest):
    web.on("/answer", menu(web))
    web.on("/menu-result", VoiceResponse())
    standin.phone(COUNSELOR, Script.answers("123"))
    done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert web.to("/menu-result")[0]["Digits"] == "1"


def test_redirect_pause_and_get_method(standin, web, rest):
    first = VoiceResponse()
    first.pause(length=2)
    first.redirect(web.url("/second"), method="GET")
    web.on("/answer", first)
    web.on("/second", says("Second document."))
    call = done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert call.said() == ["Second document."]
    assert web.to("/second")[0]["CallSid"] == call.sid
    assert all(valid for _, _, valid in web.requests)


@pytest.mark.parametrize(
    ("script", "status"),
    [(Script.busy(), "busy"), (Script.rings_out(), "no-answer"), (Script.fails(), "failed")],
)
def test_unanswered_outcomes(standin, web, rest, script, status):
    standin.phone(CALLER, script)
    sid = rest.calls.create(
        to=CALLER,
        from_=HOTLINE,
        url=web.url("/answer"),
        status_callback=web.url("/status"),
        timeout=15,
    ).sid
    call = done(standin, sid)
    assert call.status == status
    assert web.to("/answer") == []
    [final] = web.to("/status")
    assert final["CallStatus"] == status and final["CallDuration"] == "0"


@pytest.mark.parametrize(
    ("script", "detection", "answered_by"),
    [
        (Script.answers(), "Enable", "human"),
        (Script.voicemail(), "Enable", "machine_start"),
        (Script.voicemail(), "DetectMessageEnd", "machine_end_beep"),
        (Script.fax(), "Enable", "fax"),
    ],
)
def test_machine_detection_sends_answered_by(standin, web, rest, script, detection, answered_by):
    web.on("/answer", VoiceResponse())
    standin.phone(CALLER, script)
    call = done(
        standin,
        rest.calls.create(
            to=CALLER, from_=HOTLINE, url=web.url("/answer"), machine_detection=detection
        ).sid,
    )
    assert web.to("/answer")[0]["AnsweredBy"] == answered_by
    assert call.answered_by == answered_by


def test_async_amd_reports_to_its_own_callback(standin, web, rest):
    doc = VoiceResponse()
    doc.pause(length=20)
    web.on("/answer", doc)
    standin.phone(CALLER, Script.voicemail())
    rest.calls.create(
        to=CALLER,
        from_=HOTLINE,
        url=web.url("/answer"),
        machine_detection="Enable",
        async_amd="true",
        async_amd_status_callback=web.url("/status-amd"),
    )
    amd = wait_until(lambda: web.to("/status-amd"))
    assert amd[0]["AnsweredBy"] == "machine_start"
    assert "AnsweredBy" not in web.to("/answer")[0]


def test_rest_hang_up_ends_a_call_in_progress(standin, web, rest):
    doc = VoiceResponse()
    doc.pause(length=600)
    web.on("/answer", doc)
    sid = rest.calls.create(
        to=COUNSELOR, from_=HOTLINE, url=web.url("/answer"), status_callback=web.url("/status")
    ).sid
    wait_until(lambda: standin.registry.get(sid).status == "in-progress")
    rest.calls(sid).update(status="canceled")  # no effect on a call in progress
    assert rest.calls(sid).fetch().status == "in-progress"
    rest.calls(sid).update(status="completed")
    assert done(standin, sid).status == "completed"
    assert web.to("/status")[-1]["CallStatus"] == "completed"


def test_rest_cancel_stops_a_ringing_call(standin, web, rest):
    standin.phone(COUNSELOR, Script.rings_out())
    sid = rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer"), timeout=600).sid
    wait_until(lambda: standin.registry.get(sid).status == "ringing")
    rest.calls(sid).update(status="canceled")
    assert done(standin, sid).status == "canceled"


def test_rest_redirect_moves_a_live_call_to_new_twiml(standin, web, rest):
    doc = VoiceResponse()
    doc.pause(length=600)
    web.on("/answer", doc)
    web.on("/moved", says("You were moved."))
    sid = rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid
    wait_until(lambda: standin.registry.get(sid).status == "in-progress")
    rest.calls(sid).update(url=web.url("/moved"))
    assert done(standin, sid).said() == ["You were moved."]


def dial_doc(web: TwimlServer, number: str, **number_attrs: str) -> VoiceResponse:
    doc = VoiceResponse()
    dial = Dial(caller_id=HOTLINE, action=web.url("/dial-result"), timeout=20)
    dial.number(number, **number_attrs)
    doc.append(dial)
    doc.say("After the dial.")
    return doc


def test_dial_runs_the_whisper_on_the_called_leg_then_bridges(standin, web, rest):
    web.on(
        "/answer",
        dial_doc(
            web,
            CALLER,
            url=web.url("/whisper"),
            status_callback=web.url("/child-status"),
            status_callback_event="initiated ringing answered completed",
        ),
    )
    web.on("/whisper", says("Connecting you now."))
    web.on("/dial-result", says("The call has ended.", hangup=True))
    standin.phone(COUNSELOR, Script.answers(talk_seconds=300))
    standin.phone(CALLER, Script.caller(talk_seconds=45))
    parent = done(
        standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid
    )
    [whisper] = web.to("/whisper")
    assert whisper["Direction"] == "outbound-dial"
    assert whisper["ParentCallSid"] == parent.sid
    assert whisper["From"] == HOTLINE and whisper["To"] == CALLER
    [result] = web.to("/dial-result")
    assert result["DialCallStatus"] == "completed" and result["DialBridged"] == "true"
    assert int(result["DialCallDuration"]) >= 45
    assert result["CallSid"] == parent.sid and result["CallStatus"] == "in-progress"
    child = standin.registry.get(result["DialCallSid"])
    assert child.parent_call_sid == parent.sid and child.status == "completed"
    assert [f["CallStatus"] for f in web.to("/child-status")] == [
        "queued",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert parent.said() == ["The call has ended."]


@pytest.mark.parametrize(
    ("script", "dial_status"),
    [(Script.busy(), "busy"), (Script.rings_out(), "no-answer"), (Script.fails(), "failed")],
)
def test_dial_reports_unanswered_outcomes_to_action(standin, web, rest, script, dial_status):
    web.on("/answer", dial_doc(web, CALLER))
    standin.phone(CALLER, script)
    done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    [result] = web.to("/dial-result")
    assert result["DialCallStatus"] == dial_status and result["DialBridged"] == "false"
    assert "DialCallDuration" not in result


def test_dial_without_action_continues_with_the_next_verb(standin, web, rest):
    doc = VoiceResponse()
    doc.dial(CALLER, timeout=10)
    doc.say("After the dial.")
    web.on("/answer", doc)
    standin.phone(CALLER, Script.rings_out())
    call = done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert call.said() == ["After the dial."]


def test_dial_machine_detection_on_the_number(standin, web, rest):
    web.on(
        "/answer",
        dial_doc(web, CALLER, url=web.url("/screen"), machine_detection="DetectMessageEnd"),
    )
    web.on("/screen", says("Please call us back.", hangup=True))
    web.on("/dial-result", VoiceResponse())
    standin.phone(CALLER, Script.voicemail())
    done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    # <Number>'s detection is asynchronous: its url runs at once, without AnsweredBy
    # (tests/test_standin_faults.py covers amdStatusCallback); the Call resource has it.
    assert "AnsweredBy" not in web.to("/screen")[0]
    [result] = web.to("/dial-result")
    # The whisper hung up: the dialed leg completed without being bridged.
    assert result["DialCallStatus"] == "completed" and result["DialBridged"] == "false"
    child = standin.registry.get(result["DialCallSid"])
    assert wait_until(lambda: child.answered_by) == "machine_end_beep"


def test_parent_hang_up_ends_the_dialed_leg_and_still_requests_action(standin, web, rest):
    web.on("/answer", dial_doc(web, CALLER))
    web.on("/dial-result", VoiceResponse())
    standin.phone(COUNSELOR, Script.answers(talk_seconds=10))
    standin.phone(CALLER, Script.caller(talk_seconds=600))
    parent = done(
        standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid
    )
    [result] = web.to("/dial-result")
    assert result["CallStatus"] == "completed" and result["DialCallStatus"] == "completed"
    assert standin.registry.get(result["DialCallSid"]).status == "completed"
    assert parent.said() == []  # "After the dial." never plays: the parent is gone


def test_inbound_call_posts_voice_url_and_status_callback(standin, web):
    web.on("/twilio/voice", menu(web, "/twilio/ivr/language"))
    web.on("/twilio/ivr/language", says("Goodbye."))
    call = standin.dial_in(CALLER, Script.caller("2"))
    done(standin, call.sid)
    [voice] = web.to("/twilio/voice")
    assert voice["Direction"] == "inbound" and voice["CallStatus"] == "ringing"
    assert voice["To"] == HOTLINE and voice["From"] == CALLER
    assert web.to("/twilio/ivr/language")[0]["CallStatus"] == "in-progress"
    [status] = web.to("/twilio/status")
    assert status["CallStatus"] == "completed" and status["CallSid"] == call.sid
    assert all(valid for _, _, valid in web.requests)


def test_caller_hanging_up_mid_menu(standin, web):
    web.on("/twilio/voice", menu(web, "/twilio/ivr/language"))
    call = done(standin, standin.dial_in(CALLER, Script.caller(HANG_UP)).sid)
    assert web.to("/twilio/ivr/language") == []
    assert web.to("/twilio/status")[0]["CallStatus"] == "completed"
    assert call.said() == ["Press 1 to accept."]


def test_inbound_status_callback_can_be_turned_off(standin, web):
    standin.inbound_status_callback = False
    web.on("/twilio/voice", says(hangup=True))
    done(standin, standin.dial_in(CALLER).sid)
    assert web.to("/twilio/status") == []


def test_reject_leaves_the_inbound_call_unanswered(standin, web):
    web.on("/twilio/voice", rejects("busy"))
    call = done(standin, standin.dial_in(CALLER).sid)
    assert call.status == "busy"
    assert web.to("/twilio/status")[0]["CallStatus"] == "busy"


def test_a_failing_webhook_is_an_application_error(standin, web, rest):
    web.on("/answer", lambda form: Response("boom", 500))
    call = done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    assert call.said() == ["An application error has occurred. Goodbye."]
    assert standin.webhook_errors[0]["status"] == 500


def test_dialing_a_number_already_on_a_call_is_an_anomaly(standin, web, rest):
    doc = VoiceResponse()
    doc.pause(length=600)
    web.on("/answer", doc)
    first = rest.calls.create(to=CALLER, from_=HOTLINE, url=web.url("/answer")).sid
    wait_until(lambda: standin.registry.get(first).status == "in-progress")
    assert standin.anomalies == []
    rest.calls.create(to=CALLER, from_=HOTLINE, url=web.url("/answer"))
    assert len(standin.anomalies) == 1 and CALLER not in standin.anomalies[0]


def test_a_phone_can_play_one_script_per_call(standin, web, rest):
    web.on("/answer", VoiceResponse())
    standin.phone(CALLER, [Script.busy(), Script.answers()])
    first = done(standin, rest.calls.create(to=CALLER, from_=HOTLINE, url=web.url("/answer")).sid)
    second = done(standin, rest.calls.create(to=CALLER, from_=HOTLINE, url=web.url("/answer")).sid)
    assert (first.status, second.status) == ("busy", "completed")


def test_a_phone_already_on_a_call_is_busy(standin, web, rest):
    doc = VoiceResponse()
    doc.pause(length=600)
    web.on("/answer", doc)
    first = rest.calls.create(to=CALLER, from_=HOTLINE, url=web.url("/answer")).sid
    wait_until(lambda: standin.registry.get(first).status == "in-progress")
    second = done(standin, rest.calls.create(to=CALLER, from_=HOTLINE, url=web.url("/answer")).sid)
    assert second.status == "busy"


def test_a_failed_dialed_leg_reports_its_error_code(standin, web, rest):
    web.on("/answer", dial_doc(web, CALLER, status_callback=web.url("/child-status")))
    web.on("/dial-result", VoiceResponse())
    standin.phone(CALLER, Script.fails(error_code="13224"))
    done(standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url=web.url("/answer")).sid)
    [result] = web.to("/dial-result")
    assert result["DialCallStatus"] == "failed" and result["ErrorCode"] == "13224"
    assert web.to("/child-status")[0]["ErrorCode"] == "13224"


def test_a_refused_connection_is_retried_once(standin, rest):
    standin.connect("http://127.0.0.1:9")  # nothing listens there
    call = done(
        standin, rest.calls.create(to=COUNSELOR, from_=HOTLINE, url="http://127.0.0.1:9/a").sid
    )
    [request] = [e for e in call.log if e["event"] == "request"]
    assert request["retried"] is True and request["error"] == "ConnectionError"
    assert call.said() == ["An application error has occurred. Goodbye."]
