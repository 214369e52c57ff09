"""The stand-in's REST side, driven by the real twilio library over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN

CALLER = "+14155550123"
HOTLINE = "+18004927848"
URL = "https://hotline.example.org/twilio/callback/r1/whisper"


@pytest.fixture
def client(standin: Any) -> Client:
    """The twilio library, configured exactly as hotline.services builds it."""
    c = Client(ACCOUNT_SID, AUTH_TOKEN)
    c.api.base_url = standin.url
    return c


def test_create_returns_a_queued_call_and_records_every_parameter(client: Client, standin: Any):
    call = client.calls.create(
        to=CALLER,
        from_=HOTLINE,
        url=URL,
        status_callback="https://hotline.example.org/twilio/callback/r1/counselor-status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        timeout=20,
        machine_detection="Enable",
    )
    assert call.sid.startswith("CA") and len(call.sid) == 34
    assert call.status == "queued"
    assert call.direction == "outbound-api"
    assert call.to == CALLER and call._from == HOTLINE
    assert call.account_sid == ACCOUNT_SID
    [recorded] = standin.calls
    assert recorded.sid == call.sid
    assert recorded.status_callback_events == ("initiated", "ringing", "answered", "completed")
    assert recorded.timeout == 20
    assert recorded.machine_detection == "Enable"
    assert recorded.params["Url"] == URL


def test_status_callback_events_default_to_completed(client: Client, standin: Any):
    client.calls.create(to=CALLER, from_=HOTLINE, url=URL, status_callback=URL)
    assert standin.calls[0].status_callback_events == ("completed",)


def test_fetch_and_hang_up(client: Client, standin: Any):
    sid = client.calls.create(to=CALLER, from_=HOTLINE, url=URL).sid
    assert client.calls(sid).fetch().status == "queued"
    updated = client.calls(sid).update(status="canceled")
    assert updated.status == "canceled"
    assert client.calls(sid).fetch().status == "canceled"
    # Hanging up an ended call changes nothing.
    assert client.calls(sid).update(status="completed").status == "canceled"


def test_list_filters_by_number_and_status_newest_first(client: Client, standin: Any):
    first = client.calls.create(to=CALLER, from_=HOTLINE, url=URL).sid
    second = client.calls.create(to=CALLER, from_=HOTLINE, url=URL).sid
    client.calls.create(to="+13125550199", from_=HOTLINE, url=URL)
    client.calls(first).update(status="canceled")
    assert [c.sid for c in client.calls.list(to=CALLER)] == [second, first]
    assert [c.sid for c in client.calls.list(to=CALLER, status="queued")] == [second]
    assert client.calls.list(to=CALLER, status="in-progress") == []


def test_redirecting_an_ended_call_is_refused(client: Client, standin: Any):
    sid = client.calls.create(to=CALLER, from_=HOTLINE, url=URL).sid
    client.calls(sid).update(status="canceled")
    with pytest.raises(TwilioRestException) as err:
        client.calls(sid).update(url=URL)
    assert err.value.status == 400 and err.value.code == 21220


def test_unknown_call_is_404_in_twilio_shape(client: Client, standin: Any):
    with pytest.raises(TwilioRestException) as err:
        client.calls("CA" + "f" * 32).fetch()
    assert err.value.status == 404 and err.value.code == 20404


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"to": "", "from_": HOTLINE, "url": URL}, 21201),
        ({"to": CALLER, "from_": "", "url": URL}, 21213),
        ({"to": CALLER, "from_": HOTLINE}, 21205),
        ({"to": "+1555", "from_": HOTLINE, "url": URL}, 21211),
        ({"to": CALLER, "from_": HOTLINE, "url": "ftp://x"}, 21205),
    ],
)
def test_bad_create_requests_get_twilio_errors(
    client: Client, standin: Any, params: dict[str, str], code: int
):
    with pytest.raises(TwilioRestException) as err:
        client.calls.create(**params)
    assert err.value.status == 400 and err.value.code == code
    assert standin.calls == []


def test_wrong_credentials_are_401(standin: Any):
    bad = Client(ACCOUNT_SID, "not-the-token")
    bad.api.base_url = standin.url
    with pytest.raises(TwilioRestException) as err:
        bad.calls.create(to=CALLER, from_=HOTLINE, url=URL)
    assert err.value.status == 401 and err.value.code == 20003
    assert standin.calls == []


def test_error_body_has_twilio_shape(standin: Any):
    response = requests.post(
        f"{standin.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
        data={"To": CALLER, "From": HOTLINE},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": 21205,
        "message": "Url parameter is required.",
        "more_info": "https://www.twilio.com/docs/errors/21205",
        "status": 400,
    }


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (429, 20429, "Too Many Requests"),
        (503, 20500, "Service Unavailable"),
        (400, 21211, "Invalid 'To' Phone Number"),
    ],
)
def test_fail_next_injects_one_error(
    client: Client, standin: Any, status: int, code: int, message: str
):
    standin.fail_next(status, code, message)
    with pytest.raises(TwilioRestException) as err:
        client.calls.create(to=CALLER, from_=HOTLINE, url=URL)
    assert (err.value.status, err.value.code) == (status, code)
    assert err.value.msg.endswith(message)
    # Only the next request fails.
    assert client.calls.create(to=CALLER, from_=HOTLINE, url=URL).status == "queued"
    assert len(standin.calls) == 1


def test_fixture_points_settings_at_the_standin(standin: Any, settings: Any):
    assert settings.twilio_api_base_url == standin.url


def test_services_client_places_calls_on_the_standin(standin: Any, services: Any):
    call = services.twilio.calls.create(to=CALLER, from_=HOTLINE, url=URL)
    assert [c.sid for c in standin.calls] == [call.sid]


def test_webhook_connection_failure_is_retried_once_like_twilio() -> None:
    """A webhook whose connection is dropped without an answer is sent again once."""
    import socket
    import threading

    from twilio_standin.transport import HttpTransport

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    seen: list[bytes] = []

    def serve() -> None:
        first, _ = server.accept()
        seen.append(first.recv(65536))
        first.close()  # closed without a response: RemoteDisconnected at the client
        second, _ = server.accept()
        seen.append(second.recv(65536))
        body = b"<Response/>"
        second.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        second.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    transport = HttpTransport(f"http://127.0.0.1:{port}")
    answer = transport.send("POST", f"http://127.0.0.1:{port}/twilio/status", {"A": "1"}, "sig")
    thread.join(5)
    server.close()
    assert (answer.status, answer.text) == (200, "<Response/>")
    assert len(seen) == 2 and all(b"X-Twilio-Signature: sig" in request for request in seen)
