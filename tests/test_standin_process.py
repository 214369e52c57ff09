"""``python -m twilio_standin``: the stand-in as its own process (what ``hotline dev`` runs)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, free_port, wait_until


@pytest.fixture
def process() -> Iterator[str]:
    """The stand-in started the way hotline dev starts it; its base URL."""
    port = free_port()
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PATH": ""}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twilio_standin",
            "--port",
            str(port),
            "--hotline-url",
            "http://127.0.0.1:9",
            "--speed",
            "10",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{base}/_standin/health", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        wait_until(up, 15, interval=0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_process_serves_rest_and_control(process: str):
    health = requests.get(f"{process}/_standin/health", timeout=5).json()
    assert health == {"hotline_url": "http://127.0.0.1:9", "status": "ok", "voice": True}
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = process
    sid = client.calls.create(
        to="+14155550123", from_="+18004927848", url="http://127.0.0.1:9/answer"
    ).sid
    assert client.calls(sid).fetch().sid == sid
    # The hotline is unreachable: Twilio's "application error", recorded for the simulator.
    errors = wait_until(
        lambda: requests.get(f"{process}/_standin/anomalies", timeout=5).json()["webhook_errors"],
        15,
    )
    assert errors[0]["kind"] == "twiml"


def test_process_checks_credentials(process: str):
    client = Client(ACCOUNT_SID, "wrong")
    client.api.base_url = process
    with pytest.raises(TwilioRestException) as err:
        client.calls.create(to="+14155550123", from_="+18004927848", url="http://x.test/")
    assert err.value.status == 401


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"number": "+14155550123"},
        {"number": "+14155550123", "scripts": [{"answer": "x"}]},
        {"number": "+14155550123", "scripts": ["busy"]},
    ],
)
def test_control_api_refuses_bad_phone_scripts(process: str, body: object):
    response = requests.post(f"{process}/_standin/phones", json=body, timeout=5)
    assert response.status_code == 400 and response.json()["error"]


def test_process_refuses_to_start_without_credentials():
    result = subprocess.run(
        [sys.executable, "-m", "twilio_standin", "--port", "0"],
        env={"PATH": ""},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--account-sid" in result.stderr
