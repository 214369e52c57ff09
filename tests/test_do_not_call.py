"""The do-not-call list at intake: a hang-up never overrides it; a confirmed callback lifts it."""

from __future__ import annotations

from typing import Any

import redis

from routing import dispositions, ivr_outcomes, keys, queue
from routing.leads import LeadStatus, lead_events
from settings import Settings
from tests.test_intake import lead_of

NUMBER = "+12125550147"


def _on_list(r: redis.Redis, settings: Settings) -> None:
    r.sadd(keys.DO_NOT_CALL, dispositions.do_not_call_digest(settings, NUMBER))


def test_a_hang_up_from_a_number_that_asked_not_to_be_called_is_not_queued(
    dial_in: Any, r: redis.Redis, settings: Settings
) -> None:
    _on_list(r, settings)
    caller = dial_in(NUMBER)
    caller.dials()
    caller.answers("1", "1")
    caller.hangs_up()
    lead = lead_of(r, caller)
    assert (lead.status, lead.status_reason) == (LeadStatus.FAILED, ivr_outcomes.DO_NOT_CALL)
    assert queue.position(r, lead.id) is None
    assert dispositions.is_do_not_call(r, settings, NUMBER)


def test_a_caller_who_confirms_a_callback_again_is_taken_off_the_list(
    dial_in: Any, r: redis.Redis, settings: Settings
) -> None:
    _on_list(r, settings)
    caller = dial_in(NUMBER)
    caller.dials()
    caller.answers("1", "1", "1", "3", "1")  # the whole IVR, confirming the caller ID
    lead = lead_of(r, caller)
    assert lead.status == LeadStatus.WAITING and lead.consent_at > 0
    assert not dispositions.is_do_not_call(r, settings, NUMBER)
    assert "do_not_call_lifted" in [e["event"] for e in lead_events(r, lead.id)]


def test_a_number_not_on_the_list_is_queued_after_a_hang_up(
    dial_in: Any, r: redis.Redis, settings: Settings
) -> None:
    caller = dial_in(NUMBER)
    caller.dials()
    caller.hangs_up()
    assert lead_of(r, caller).status == LeadStatus.WAITING
