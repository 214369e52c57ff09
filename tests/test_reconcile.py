"""Reconciliation with Twilio's REST API: a caller whose inbound status callback was lost
is still queued, once Twilio says their call is over (and not before)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from routing import keys
from routing.leads import get_lead
from settings import Settings
from tests.conftest import Twilio, parse_twiml
from twilio_standin.calls import Call
from workers import jobs
from workers.services import Services

CALLER = "+12125550147"


@pytest.fixture
def standin_env(standin: Any, env: dict[str, str]) -> dict[str, str]:
    """The test environment, pointed at the stand-in (requested before settings)."""
    return env


def a_call_in_the_ivr(standin: Any, twilio: Twilio, r: redis.Redis, sid: str) -> str:
    """A caller reaches the IVR and the stand-in knows their call; their lead id."""
    standin.registry.add(
        Call(
            sid, standin.account_sid, "+18004927848", CALLER, "inbound", time.time(), "in-progress"
        )
    )
    parse_twiml(twilio.post("/twilio/voice", {"CallSid": sid, "From": CALLER}))
    lead_id = r.get(keys.CALL_LEAD.format(sid))
    assert lead_id and get_lead(r, lead_id).status == "intake"
    return str(lead_id)


def test_a_caller_whose_hang_up_was_never_heard_is_queued_once_twilio_says_so(
    standin_env: dict[str, str],
    standin: Any,
    twilio: Twilio,
    r: redis.Redis,
    settings: Settings,
    services: Services,
) -> None:
    sid = "CA" + "4" * 32
    lead_id = a_call_in_the_ivr(standin, twilio, r, sid)
    later = time.time() + settings.intake_check_seconds + 1
    # Still on the line as far as Twilio knows: left alone.
    assert jobs.sweep_now(services, now=later)["reconciled"] == 0
    assert get_lead(r, lead_id).status == "intake"
    # They hung up; the status callback to /twilio/status was lost.
    standin.registry.get(sid).status = "completed"
    assert jobs.sweep_now(services, now=later + settings.intake_check_seconds)["reconciled"] == 1
    lead = get_lead(r, lead_id)
    assert lead.status == "waiting" and lead.ivr_abandoned
    # The lost callback arrives after all: nothing changes, nothing is queued twice.
    twilio.post("/twilio/status", {"CallSid": sid, "CallStatus": "completed"})
    assert r.zcard(keys.WAITING_ALL) == 1
    assert r.zscore(keys.INTAKE, lead_id) is None  # queued: off the list of leads in the IVR


def test_a_call_twilio_cannot_look_up_now_is_looked_at_again_later(
    standin_env: dict[str, str],
    standin: Any,
    twilio: Twilio,
    r: redis.Redis,
    settings: Settings,
    services: Services,
) -> None:
    sid = "CA" + "5" * 32
    lead_id = a_call_in_the_ivr(standin, twilio, r, sid)
    standin.registry.get(sid).status = "completed"
    standin.fail_next(503, 20500, "Service unavailable", operation="fetch")
    later = time.time() + settings.intake_check_seconds + 1
    jobs.sweep_now(services, now=later)
    assert get_lead(r, lead_id).status == "intake"
    jobs.sweep_now(services, now=later + settings.intake_check_seconds + 1)
    assert get_lead(r, lead_id).status == "waiting"
