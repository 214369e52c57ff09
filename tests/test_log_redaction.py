"""No full phone number in any log line that leaves a Hotline process: the app, gunicorn's
access and error logs (``hotline web``), RQ workers (``hotline worker``) and the stand-in
(``python -m twilio_standin``), each run as its own process and its output read back."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import redis
import requests
from rq import Queue
from rq.serializers import JSONSerializer
from twilio.request_validator import RequestValidator

from routing.phones import redact
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, ROOT, free_port, wait_until
from tests.test_commands import healthz
from workers.services import DEFAULT_QUEUE

#: The numbers the tests write in every form; none may reach a log line in full.
NUMBERS = ("4155550142", "2125550123", "6465550175", "3125550188")


def forms(national: str) -> list[str]:
    """Every way a URL, a form or a message may carry ``national`` (a NANP number)."""
    a, b, c = national[:3], national[3:6], national[6:]
    return [
        f"+1{national}",  # E.164
        f"%2B1{national}",  # E.164, URL-encoded
        f"%2b1{national}",
        f"({a}) {b}-{c}",  # national with separators
        f"%28{a}%29%20{b}-{c}",  # ... URL-encoded
        f"({a})+{b}-{c}",  # ... form-encoded
        f"{a}.{b}.{c}",
        f"1-{a}-{b}-{c}",
        f"+1 {a} {b} {c}",
        national,  # bare 10 digits
        f"1{national}",
    ]


def leaks(text: str) -> list[str]:
    """Every place ``text`` holds one of NUMBERS in full (its last seven digits, with
    whatever separators between them)."""
    found = []
    for national in NUMBERS:
        pattern = re.compile(rf"{national[3:6]}\D{{0,6}}{national[6:]}")
        found += [text[max(0, m.start() - 60) : m.end() + 20] for m in pattern.finditer(text)]
    return found


# --- The redaction itself -----------------------------------------------------------------


@pytest.mark.parametrize("written", forms("4155550142"))
@pytest.mark.parametrize(
    "around", ["caller {} waiting", "GET /lookup/{} HTTP/1.1", "/calls?To={}&x=1", "/x/{}.json"]
)
def test_redact_masks_numbers_in_text_and_urls(written: str, around: str) -> None:
    text = redact(around.format(written))
    assert leaks(text) == [], text
    assert "***42" in text


@pytest.mark.parametrize(
    "path", ["/12125550123", "/n/2125550123", "/n%2F2125550123", "/n_2125550123?a=b"]
)
def test_redact_masks_a_bare_number_path_segment(path: str) -> None:
    assert leaks(redact(f'"GET {path} HTTP/1.1" 404')) == []


@pytest.mark.parametrize(
    "text",
    [
        '127.0.0.1 - - [10/Oct/2025:13:55:36 -0700] "GET /healthz HTTP/1.1" 200 15 "-" "curl/8"',
        "[2025-10-10 13:55:36 +0000] [12345] [INFO] Booting worker with pid: 12345",
        "call CA0123456789abcdef0123456789abcdef: lead L000001",
        "took 1764500000.123 seconds",
    ],
)
def test_redact_leaves_access_lines_pids_and_ids_alone(text: str) -> None:
    assert redact(text) == text


# --- Real processes -----------------------------------------------------------------------


def test_hotline_web_logs_hold_no_number(env: dict[str, str], tmp_path: Path) -> None:
    """gunicorn's access and error logs and the app's log, at DEBUG, with numbers in the
    URL, the query, the form, the headers and a malformed request line."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hotline", "web", "--bind", f"127.0.0.1:{port}"],
            env={**os.environ, **env, "WEB_CONCURRENCY": "1", "LOG_LEVEL": "DEBUG"},
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        wait_until(lambda: healthz(port) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, err.read_text()
        validator = RequestValidator(AUTH_TOKEN)
        for national in NUMBERS:
            for written in forms(national):
                quoted = urllib.parse.quote(written, safe="")
                headers = {"Referer": f"{base}/x?n={quoted}", "User-Agent": f"phone {written}"}
                requests.get(f"{base}/lookup/{quoted}?n={quoted}", headers=headers, timeout=5)
                requests.get(f"{base}/lookup/{written}", timeout=5)
            # Twilio's webhooks: an inbound call, a keyed number, one forged request.
            call = {"CallSid": f"CA{national[::-1]:0>32}", "From": f"+1{national}"}
            call |= {"To": "+18004927848", "CallStatus": "ringing", "AccountSid": ACCOUNT_SID}
            for path, form in (
                ("/twilio/voice", call),
                ("/twilio/ivr/number", {**call, "Digits": national}),
            ):
                signature = validator.compute_signature(PUBLIC_BASE_URL + path, form)
                sent = requests.post(
                    base + path, data=form, headers={"X-Twilio-Signature": signature}, timeout=5
                )
                assert sent.status_code == 200, sent.text
            requests.post(f"{base}/twilio/voice?From=%2B1{national}", data=call, timeout=5)
            _send_raw(port, f"GET /+1{national} HTTP/1.1 junk\r\nHost: x\r\n\r\n")
            _send_raw(port, f"GET /%2B1{national} HTTP/1.1\r\nX-Phone: +1{national}\r\n\r\n")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    stdout_text, stderr_text = out.read_text(), err.read_text()
    # The logs are really there: the access log has each request, numbers masked.
    assert stdout_text.count("GET /lookup/") >= len(NUMBERS) * len(forms("1")) * 2
    assert "/lookup/***42?n=***42" in stdout_text
    assert "POST /twilio/voice" in stdout_text
    assert "gunicorn.error" in stderr_text and "rejected unsigned" in stderr_text
    assert leaks(stdout_text) == []
    assert leaks(stderr_text) == []


def _send_raw(port: int, request: str) -> None:
    """Send bytes as they are (a malformed request gunicorn itself refuses and logs)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request.encode())
        try:
            s.recv(4096)
        except TimeoutError:
            pass


def test_hotline_worker_logs_hold_no_number(env: dict[str, str], r: redis.Redis) -> None:
    """RQ's own lines (a job's description carries its arguments) and a failed job's
    traceback whose message holds a number."""
    queue = Queue(
        DEFAULT_QUEUE,
        connection=redis.Redis.from_url(env["REDIS_URL"]),
        serializer=JSONSerializer,
    )
    for national in NUMBERS:
        for written in forms(national):
            # int("(415) 555-0142") fails with the number in its message.
            queue.enqueue("builtins.int", written, failure_ttl=60)
            queue.enqueue("builtins.len", written, result_ttl=0)
    done = subprocess.run(
        [sys.executable, "-m", "hotline", "worker", "--burst"],
        env={**os.environ, **env, "LOG_LEVEL": "DEBUG"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "builtins.len(" in output and "ValueError: invalid literal for int()" in output
    assert leaks(output) == []


def test_standin_logs_hold_no_number(tmp_path: Path) -> None:
    """The stand-in's request lines: Twilio's REST API with numbers in query strings."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    err = tmp_path / "stderr"
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "twilio_standin", "--port", str(port)]
            + ["--hotline-url", "http://127.0.0.1:9"],
            env={"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PATH": ""},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    calls = f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    try:
        wait_until(lambda: _standin_up(base) or proc.poll() is not None, 15, interval=0.1)
        for national in NUMBERS:
            for written in forms(national):
                quoted = urllib.parse.quote(written, safe="")
                requests.get(f"{calls}?To={quoted}", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
                requests.get(f"{base}/nowhere/{quoted}", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    text = err.read_text()
    assert "Calls.json?To=***42" in text
    assert leaks(text) == []


def _standin_up(base: str) -> bool:
    try:
        return requests.get(f"{base}/_standin/health", timeout=1).ok
    except requests.ConnectionError:
        return False
