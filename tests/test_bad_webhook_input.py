"""Bad webhook input gets a clear answer, writes nothing and logs a warning, never an ERROR
with a traceback: a missing CallSid, an unknown reservation id, Unicode digits."""

from __future__ import annotations

import logging

import pytest
import redis

from tests.conftest import Twilio, parse_twiml

LEGS = ["whisper", "accept", "screen", "screen-check", "amd", "dial-result"]
STATUS_LEGS = ["counselor-status", "caller-status"]


@pytest.mark.parametrize("leg", LEGS + STATUS_LEGS)
def test_an_unknown_reservation_writes_nothing_and_hangs_up_quietly(
    twilio: Twilio, r: redis.Redis, caplog: pytest.LogCaptureFixture, leg: str
) -> None:
    caplog.set_level(logging.INFO)
    before = set(r.scan_iter("*"))
    params = {
        "CallSid": "CA" + "7" * 32,
        "CallStatus": "completed",
        "SequenceNumber": "3",
        "Digits": "1",
        "DialCallStatus": "completed",
        "AnsweredBy": "human",
    }
    doc = parse_twiml(twilio.post(f"/twilio/callback/R999999/{leg}", params))
    assert set(r.scan_iter("*")) == before  # no stray reservation hash, nothing else
    if leg in LEGS and leg != "amd":
        said = " ".join(s.text for s in doc.iter("Say")).lower()
        assert "overdos" not in said and "9 8 8" not in said
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_unicode_digits_in_a_sequence_number_are_not_a_crash(
    twilio: Twilio, r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    r.hset(
        "hotline:reservation:R000001",
        mapping={
            "id": "R000001",
            "lead_id": "L1",
            "counselor_id": "C1",
            "state": "missed",
            "score": "1",
            "created_at": "1",
        },
    )
    response = twilio.post(
        "/twilio/callback/R000001/counselor-status",
        {"CallSid": "CA" + "7" * 32, "CallStatus": "ringing", "SequenceNumber": "١٢"},
    )
    assert response.status_code == 200
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_a_missing_callsid_is_a_warning_and_an_apology(
    twilio: Twilio, caplog: pytest.LogCaptureFixture
) -> None:
    doc = parse_twiml(twilio.post("/twilio/voice", {"From": "+12125550123"}))
    assert "9 1 1" in " ".join(s.text for s in doc.iter("Say"))
    warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING]
    assert any("missing CallSid" in rec.getMessage() for rec in warnings)
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
