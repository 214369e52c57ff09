"""The callback call, counselor first: every outcome, driven the way Twilio would drive it.

The counselor leg is placed through the real twilio client against the local stand-in
(``standin``: calls are recorded, the voice side is off); the test then plays Twilio's
voice side itself, posting signed webhooks in Twilio's order, so each flow is deterministic.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from rq.registry import ScheduledJobRegistry
from twilio.base.exceptions import TwilioRestException

from routing import account, callbacks, keys
from routing import counselors as cs
from routing.leads import Lead, get_lead, lead_attempts, lead_events
from routing.queue import add_waiting
from routing.reservation import ReservationState as S
from routing.reservation import get_reservation
from settings import Settings
from tests.conftest import PUBLIC_BASE_URL, Twilio, parse_twiml
from tests.records import save_lead
from workers import jobs
from workers.services import DEFAULT_QUEUE, Services

CALLER = "+12125550123"  # New York
COUNSELOR_PHONE = "+13125550199"


@pytest.fixture
def standin_env(standin: Any, env: dict[str, str]) -> dict[str, str]:
    """The test environment, pointed at the stand-in (requested before settings)."""
    return env


class Call:
    """One callback, with Twilio's voice side played by the test."""

    def __init__(self, twilio: Twilio, r: redis.Redis, rid: str):
        self.twilio, self.r, self.rid = twilio, r, rid
        self.seq = 0

    def url(self, leg: str) -> str:
        return f"/twilio/callback/{self.rid}/{leg}"

    def post(self, leg: str, **params: str) -> Any:
        base = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "0" * 31 + "1"}
        return self.twilio.post(self.url(leg), {**base, **params})

    def counselor_status(self, status: str, seq: int | None = None) -> Any:
        if seq is None:
            self.seq += 1
            seq = self.seq
        return self.post("counselor-status", CallStatus=status, SequenceNumber=str(seq))

    def counselor_answers(self, answered_by: str = "human") -> Any:
        self.counselor_status("in-progress")
        return parse_twiml(self.post("whisper", AnsweredBy=answered_by, CallStatus="in-progress"))

    def counselor_presses(self, digits: str) -> Any:
        return parse_twiml(self.post("accept", Digits=digits))

    def caller_answers(self, answered_by: str | None = "human") -> Any:
        """The caller's phone answers: the screen's greeting, answering-machine detection's
        result at its own callback (None: it never came), then the screen's check."""
        greeting = parse_twiml(self.post("screen", CallSid="CA" + "2" * 32))
        if greeting.find("Redirect") is None:
            return greeting
        if answered_by is not None:
            self.post("amd", CallSid="CA" + "2" * 32, AnsweredBy=answered_by)
        return parse_twiml(self.post("screen-check", CallSid="CA" + "2" * 32))

    def caller_presses(self, digits: str) -> Any:
        return parse_twiml(self.post("screen-check", CallSid="CA" + "2" * 32, Digits=digits))

    def dial_ends(self, status: str, **extra: str) -> Any:
        """The Dial's action; the counselor's leg is still up unless ``CallStatus`` says."""
        params = {"CallStatus": "in-progress", **extra}
        return parse_twiml(self.post("dial-result", DialCallStatus=status, **params))

    @property
    def state(self) -> str:
        res = get_reservation(self.r, self.rid)
        assert res is not None
        return res.state


def new_lead(
    r: redis.Redis,
    settings: Settings,
    lead_id: str = "L000001",
    *,
    age: float = 60,
    attempts: int = 0,
    phone: str = CALLER,
) -> Lead:
    now = time.time()
    lead = Lead(
        id=lead_id,
        call_sid="CA" + lead_id,
        phone=phone,
        language="en",
        situation="self",
        urgent=True,
        insurance="medicaid",
        first_call_at=now - age,
        created_at=now - age,
        attempts=attempts,
    )
    save_lead(r, lead)
    add_waiting(r, settings, lead)
    return lead


def new_counselor(
    r: redis.Redis,
    name: str = "Ana",
    phone: str = COUNSELOR_PHONE,
    languages: tuple[str, ...] = ("en",),
) -> cs.Counselor:
    c = cs.create_counselor(r, name, phone, list(languages), [])
    assert cs.make_available(r, c)
    return c


@pytest.fixture
def offer(
    standin_env: dict[str, str],
    standin: Any,
    r: redis.Redis,
    settings: Settings,
    services: Services,
    twilio: Twilio,
) -> Any:
    """Make an offer: queue a lead, free a counselor, match, dial the counselor."""

    def make(**lead_kw: Any) -> tuple[Call, Lead, cs.Counselor]:
        lead = new_lead(r, settings, **lead_kw)
        counselor = new_counselor(r)
        [rid] = jobs.request_match(services)
        assert jobs.place_counselor_call(services, rid) == "dialed"
        return Call(twilio, r, rid), lead, counselor

    return make


def score_of(settings: Settings, lead: Lead) -> float:
    return lead.queue_score(settings.urgent_head_start, settings.self_head_start)


def back_in_its_place(r: redis.Redis, settings: Settings, lead: Lead, old_rid: str) -> bool:
    """The lead went back in line at its original score, not as an attempt. Matching runs
    again at once, so it may already be offered anew (a new reservation, same score)."""
    now = get_lead(r, lead.id)
    assert now is not None and now.attempts == lead.attempts
    if now.status == "waiting":
        return r.zscore(keys.WAITING_ALL, lead.id) == pytest.approx(score_of(settings, lead))
    res = get_reservation(r, r.hget(keys.LEAD.format(lead.id), "reservation"))
    return (
        now.status == "reserved"
        and res is not None
        and res.id != old_rid
        and res.score == pytest.approx(score_of(settings, lead))
    )


def test_counselor_call_is_placed_through_twilio(
    offer: Any, standin: Any, settings: Settings
) -> None:
    call, lead, counselor = offer()
    [placed] = standin.calls
    assert placed.to == COUNSELOR_PHONE
    assert placed.from_ == settings.hotline_number
    assert placed.url == f"{PUBLIC_BASE_URL}/twilio/callback/{call.rid}/whisper"
    status_url = f"{PUBLIC_BASE_URL}/twilio/callback/{call.rid}/counselor-status"
    assert placed.status_callback == status_url
    events = {"initiated", "ringing", "answered", "completed"}
    assert set(placed.status_callback_events) == events
    assert placed.timeout == settings.counselor_ring_seconds
    assert placed.machine_detection == "Enable"
    res = get_reservation(call.r, call.rid)
    assert res.counselor_call_sid == placed.sid
    assert res.state == S.COUNSELOR_RINGING
    # No personal data in any URL Twilio is given.
    assert CALLER[-7:] not in placed.url and lead.id not in placed.url


def test_accept_bridges_then_wrap_up_then_available(
    offer: Any, r: redis.Redis, settings: Settings, services: Services
) -> None:
    call, lead, counselor = offer()
    whisper = call.counselor_answers()
    gather = whisper.find("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == f"{PUBLIC_BASE_URL}{call.url('accept')}"
    text = gather.find("Say").text
    assert "Urgent" in text and "Medicaid" in text and "Press 1" in text
    assert CALLER[-4:] not in text

    doc = call.counselor_presses("1")
    dial = doc.find("Dial")
    assert dial.get("callerId") == settings.hotline_number
    assert dial.get("action") == f"{PUBLIC_BASE_URL}{call.url('dial-result')}"
    assert dial.get("timeout") == str(settings.caller_ring_seconds)
    number = dial.find("Number")
    assert number.text == CALLER
    assert number.get("url") == f"{PUBLIC_BASE_URL}{call.url('screen')}"
    assert number.get("machineDetection") == "DetectMessageEnd"
    assert cs.get_counselor(r, counselor.id).status == "on_call"

    assert number.get("amdStatusCallback") == f"{PUBLIC_BASE_URL}{call.url('amd')}"
    screen = call.caller_answers("human")
    assert screen.find("Hangup") is None  # the end of the screen's TwiML bridges the call
    assert call.state == "bridged"
    # Connected only once Twilio says the legs were joined (DialBridged).
    assert get_lead(r, lead.id).status == "reserved"

    ended = call.dial_ends("completed", DialCallDuration="300", DialBridged="true")
    assert ended.find("Hangup") is not None
    assert call.state == S.CONNECTED
    c = cs.get_counselor(r, counselor.id)
    assert c.status == "wrap_up"
    assert r.zscore(keys.WRAPUPS, counselor.id) is not None
    assert [a["outcome"] for a in lead_attempts(r, lead.id)] == ["connected"]
    assert get_lead(r, lead.id).attempts == 1

    # The counselor's own leg completing afterwards changes nothing.
    call.counselor_status("completed")
    assert cs.get_counselor(r, counselor.id).status == "wrap_up"
    jobs.sweep_now(services, now=time.time() + settings.wrapup_seconds + 1)
    assert cs.get_counselor(r, counselor.id).status == "available"


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed"])
def test_counselor_not_answering_returns_callback_to_its_place(
    offer: Any, r: redis.Redis, settings: Settings, status: str
) -> None:
    call, lead, counselor = offer()
    call.counselor_status("ringing")
    call.counselor_status(status)
    assert call.state == S.MISSED
    assert back_in_its_place(r, settings, lead, call.rid)
    c = cs.get_counselor(r, counselor.id)
    assert c.missed_offers == 1
    assert r.zscore(keys.LEASES, call.rid) is None


def test_counselor_declines_or_ignores_the_whisper(
    offer: Any, r: redis.Redis, settings: Settings
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    again = call.counselor_presses("7")  # a wrong key asks again
    assert again.find("Redirect").text.endswith(call.url("whisper"))
    assert call.state == S.WHISPER
    call.counselor_presses("2")
    assert call.state == S.MISSED
    assert back_in_its_place(r, settings, lead, call.rid)
    assert cs.get_counselor(r, counselor.id).missed_offers == 1


def test_counselor_silence_twice_is_a_decline(offer: Any, r: redis.Redis) -> None:
    call, lead, _ = offer()
    call.counselor_answers()
    assert call.counselor_presses("").find("Redirect") is not None
    assert call.counselor_presses("").find("Hangup") is not None
    assert call.state == S.MISSED


def test_counselor_voicemail_is_a_miss(offer: Any, r: redis.Redis, settings: Settings) -> None:
    call, lead, counselor = offer()
    doc = call.counselor_answers("machine_start")
    assert doc.find("Gather") is None and doc.find("Hangup") is not None
    assert call.state == S.MISSED
    assert back_in_its_place(r, settings, lead, call.rid)


def test_missed_offers_in_a_row_put_counselor_offline(
    standin_env: dict[str, str],
    r: redis.Redis,
    settings: Settings,
    services: Services,
    twilio: Twilio,
) -> None:
    lead = new_lead(r, settings)
    counselor = new_counselor(r)
    [rid] = jobs.request_match(services)
    for n in range(1, settings.max_missed_offers + 1):
        jobs.place_counselor_call(services, rid)
        Call(twilio, r, rid).counselor_status("no-answer")
        assert cs.get_counselor(r, counselor.id).missed_offers == n
        # The webhook matched again at once: the only counselor is offered it anew.
        rid = r.hget(keys.LEAD.format(lead.id), "reservation")
    c = cs.get_counselor(r, counselor.id)
    assert c.status == "offline" and "missed" in c.status_reason
    assert jobs.request_match(services) == []
    assert get_lead(r, lead.id).status == "waiting"


@pytest.mark.parametrize(
    ("screen", "dial_status", "outcome"),
    [
        (None, "no-answer", "no-answer"),
        (None, "busy", "busy"),
        (None, "failed", "failed"),
        ("machine_end_beep", "completed", "machine"),
    ],
)
def test_caller_not_reached_is_retried_with_backoff(
    offer: Any,
    r: redis.Redis,
    settings: Settings,
    services: Services,
    screen: str | None,
    dial_status: str,
    outcome: str,
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    if screen:
        doc = call.caller_answers(screen)
        said = " ".join(s.text for s in doc.iter("Say")).lower()
        assert doc.find("Hangup") is not None
        for word in ("addict", "treatment", "recovery", "hotline", "substance", "drug"):
            assert word not in said
    before = time.time()
    told = call.dial_ends(dial_status)
    assert "not reached" in told.find("Say").text  # the counselor is told
    assert call.state == S.CALLER_UNREACHED
    now_lead = get_lead(r, lead.id)
    assert now_lead.status == "retry_wait" and now_lead.attempts == 1
    due = r.zscore(keys.DUE, lead.id)
    assert before + settings.retry_delays[0] - 1 <= due <= time.time() + settings.retry_delays[0]
    assert [a["outcome"] for a in lead_attempts(r, lead.id)] == [outcome]
    assert cs.get_counselor(r, counselor.id).status == "available"
    scheduled = ScheduledJobRegistry(DEFAULT_QUEUE, connection=services.rq_redis)
    assert any(j.startswith(f"requeue-{lead.id}-") for j in scheduled.get_job_ids())

    # When it is due, it returns at its original score.
    jobs.sweep_now(services, now=due + 1)
    back = get_lead(r, lead.id)
    assert back.status in ("waiting", "reserved")
    assert back.attempts == 1


def test_retries_exhausted_marks_unreachable_with_history(
    offer: Any, r: redis.Redis, settings: Settings
) -> None:
    call, lead, counselor = offer(attempts=len(settings.retry_delays))
    call.counselor_answers()
    call.counselor_presses("1")
    told = call.dial_ends("no-answer")
    assert "every attempt" in told.find("Say").text
    done = get_lead(r, lead.id)
    assert done.status == "unreachable"
    assert done.attempts == len(settings.retry_delays) + 1
    assert r.zscore(keys.DUE, lead.id) is None and r.zscore(keys.WAITING_ALL, lead.id) is None
    assert "unreachable" in [e["event"] for e in lead_events(r, lead.id)]


@pytest.mark.parametrize(
    ("code", "lead_status", "paused"),
    [
        ("13223", "failed", False),  # the caller's number is invalid: it never will work
        ("13224", "retry_wait", False),  # the carrier could not deliver it this time
        ("13227", "waiting", True),  # geographic permissions: the account's problem
    ],
)
def test_an_error_on_the_caller_leg_blames_whose_problem_it_is(
    offer: Any, r: redis.Redis, code: str, lead_status: str, paused: bool
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    call.dial_ends("failed", ErrorCode=code)
    now = get_lead(r, lead.id)
    assert now.status == lead_status
    if lead_status == "failed":
        assert code in now.status_reason
    assert cs.get_counselor(r, counselor.id).status == "available"
    assert account.dialing_paused(r) is paused


def test_invalid_caller_number_fails_before_any_call(
    standin_env: dict[str, str],
    standin: Any,
    r: redis.Redis,
    settings: Settings,
    services: Services,
) -> None:
    lead = new_lead(r, settings, phone="+1555")
    counselor = new_counselor(r)
    [rid] = jobs.request_match(services)
    assert jobs.place_counselor_call(services, rid) == "lead-failed"
    assert standin.calls == []
    assert get_lead(r, lead.id).status == "failed"
    assert cs.get_counselor(r, counselor.id).status == "available"


@pytest.mark.parametrize(("http", "code"), [(429, 20429), (500, 20500), (503, 20003)])
def test_transient_rest_errors_propagate_for_rq_retry(
    standin_env: dict[str, str],
    standin: Any,
    r: redis.Redis,
    settings: Settings,
    services: Services,
    http: int,
    code: int,
) -> None:
    new_lead(r, settings)
    new_counselor(r)
    [rid] = jobs.request_match(services)
    standin.fail_next(http, code, "try later")
    with pytest.raises(TwilioRestException):
        jobs.place_counselor_call(services, rid)
    assert get_reservation(r, rid).state == S.OFFERED
    assert jobs.place_counselor_call(services, rid) == "dialed"  # RQ's retry succeeds
    assert len(standin.calls) == 1


def test_permanent_error_on_counselor_leg_puts_counselor_offline(
    standin_env: dict[str, str],
    standin: Any,
    r: redis.Redis,
    settings: Settings,
    services: Services,
) -> None:
    lead = new_lead(r, settings)
    counselor = new_counselor(r)
    [rid] = jobs.request_match(services)
    standin.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    assert jobs.place_counselor_call(services, rid) == "counselor-unreachable"
    c = cs.get_counselor(r, counselor.id)
    assert c.status == "offline" and "21211" in c.status_reason
    assert get_lead(r, lead.id).status == "waiting"
    assert get_lead(r, lead.id).attempts == 0


def test_a_retried_dial_job_never_dials_twice(
    standin_env: dict[str, str],
    standin: Any,
    r: redis.Redis,
    settings: Settings,
    services: Services,
) -> None:
    new_lead(r, settings)
    new_counselor(r)
    [rid] = jobs.request_match(services)
    # A first run that died after taking the guard, before recording anything.
    r.set(keys.DIAL_GUARD.format(rid, "counselor"), "1")
    assert jobs.place_counselor_call(services, rid) == "already-dialed"
    assert standin.calls == []
    r.delete(keys.DIAL_GUARD.format(rid, "counselor"))
    assert jobs.place_counselor_call(services, rid) == "dialed"
    assert jobs.place_counselor_call(services, rid) == "stale"
    assert len(standin.calls) == 1


def test_duplicate_and_out_of_order_status_callbacks(offer: Any, r: redis.Redis) -> None:
    call, lead, counselor = offer()
    call.counselor_status("no-answer", seq=3)
    call.counselor_status("no-answer", seq=3)  # Twilio's repeat
    call.counselor_status("ringing", seq=1)  # late
    call.counselor_status("completed", seq=4)
    assert call.state == S.MISSED
    c = cs.get_counselor(r, counselor.id)
    assert c.missed_offers == 1
    events = [e["event"] for e in lead_events(r, lead.id)]
    assert events.count("requeued") == 1


def test_repeated_dial_result_counts_one_attempt(offer: Any, r: redis.Redis) -> None:
    call, lead, _ = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    call.dial_ends("busy")
    call.dial_ends("busy")
    call.counselor_status("completed")
    assert get_lead(r, lead.id).attempts == 1
    assert len(lead_attempts(r, lead.id)) == 1


def test_a_lost_status_callback_is_settled_by_asking_twilio(
    offer: Any, r: redis.Redis, settings: Settings, services: Services, standin: Any
) -> None:
    call, lead, counselor = offer()
    later = time.time() + settings.lease_seconds + 1
    # Twilio says the call is still ringing: nothing is taken from under it.
    assert jobs.sweep_now(services, now=later)["reconciled"] == 0
    assert call.state == S.COUNSELOR_RINGING
    assert r.zscore(keys.LEASES, call.rid) > time.time()
    # It ended unanswered and the status callback never came: the sweep asks Twilio.
    [placed] = standin.calls
    standin.hang_up(placed, "canceled")
    assert jobs.sweep_now(services, now=later + settings.lease_seconds + 1)["reconciled"] == 1
    assert call.state == S.MISSED
    assert get_reservation(r, call.rid).outcome == "canceled"
    assert back_in_its_place(r, settings, lead, call.rid)
    assert cs.get_counselor(r, counselor.id).missed_offers == 1
    # The callback that was lost arrives after all, and others late: nothing changes.
    call.counselor_status("canceled")
    late = call.counselor_answers()
    assert late.find("Gather") is None and late.find("Hangup") is not None
    assert call.counselor_presses("1").find("Dial") is None
    assert cs.get_counselor(r, counselor.id).missed_offers == 1
    assert [e["event"] for e in lead_events(r, lead.id)].count("requeued") == 1


def test_a_bridged_call_whose_end_was_not_heard_ends_when_twilio_says_so(
    offer: Any, r: redis.Redis, settings: Settings, services: Services, standin: Any
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    call.caller_answers("human")
    later = time.time() + settings.lease_seconds + 1
    jobs.sweep_now(services, now=later)
    assert call.state == S.BRIDGED  # still talking, as far as Twilio knows
    assert cs.get_counselor(r, counselor.id).status == "on_call"
    [placed] = standin.calls
    standin.hang_up(placed, "completed")
    jobs.sweep_now(services, now=later + settings.lease_seconds + 1)
    assert call.state == S.CONNECTED
    assert get_lead(r, lead.id).status == "connected"
    # Wrap-up began, and the sweep's clock (two leases on) has already ended it.
    assert cs.get_counselor(r, counselor.id).status == "available"
    assert [a["outcome"] for a in lead_attempts(r, lead.id)] == ["connected"]


def test_a_call_twilio_does_not_know_is_released(
    offer: Any, r: redis.Redis, settings: Settings, services: Services
) -> None:
    call, lead, counselor = offer()
    r.hset(keys.RESERVATION.format(call.rid), "counselor_call_sid", "CA" + "9" * 32)
    jobs.sweep_now(services, now=time.time() + settings.lease_seconds + 1)
    assert call.state == S.RECLAIMED
    assert back_in_its_place(r, settings, lead, call.rid)
    assert cs.get_counselor(r, counselor.id).missed_offers == 0


def test_a_counselor_is_not_rung_while_their_last_call_is_hanging_up(
    offer: Any, r: redis.Redis, settings: Settings, services: Services
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    call.dial_ends("busy")  # the counselor is still hearing "not reached"
    assert cs.get_counselor(r, counselor.id).status == "available"
    second = new_lead(r, settings, "L000002")
    assert jobs.request_match(services) == []
    assert get_lead(r, second.id).status == "waiting"
    call.counselor_status("completed")
    assert get_lead(r, second.id).status == "reserved"


def test_lease_reclaim_keeps_the_original_score(
    standin_env: dict[str, str], r: redis.Redis, settings: Settings, services: Services
) -> None:
    lead = new_lead(r, settings)
    counselor = new_counselor(r)
    [rid] = jobs.request_match(services)
    # A reserved counselor cannot go offline in the middle of an offer.
    assert not cs.make_offline(r, cs.get_counselor(r, counselor.id), "break")
    # The dial job never ran (a worker died): no call, so nothing to ask Twilio.
    later = time.time() + settings.lease_seconds + 1
    done = jobs.sweep_now(services, now=later)
    assert done["reclaimed"] == 1
    assert get_reservation(r, rid).state == S.RECLAIMED
    res2 = get_reservation(r, r.hget(keys.LEAD.format(lead.id), "reservation"))
    assert res2.id != rid and res2.score == pytest.approx(score_of(settings, lead))
    assert cs.get_counselor(r, counselor.id).missed_offers == 0
    assert callbacks.release(r, settings, rid, "again") is None  # a second sweep: nothing


def test_outside_calling_hours_is_deferred(
    standin_env: dict[str, str],
    standin: Any,
    r: redis.Redis,
    services: Services,
    env: dict[str, str],
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from settings import load_settings

    local = datetime.now(ZoneInfo("America/New_York"))
    # A one-hour window starting three hours from now in the caller's zone: now is outside.
    start = (local.hour + 3) % 24
    env["CALLING_HOURS"] = f"{start:02d}:00-{(start + 1) % 24:02d}:00"
    settings = load_settings(env)
    services.settings = settings
    lead = new_lead(r, settings, age=2 * 3600)  # called two hours ago: not exempt
    counselor = new_counselor(r)
    [rid] = jobs.request_match(services)
    assert jobs.place_counselor_call(services, rid) == "deferred"
    assert standin.calls == []
    deferred = get_lead(r, lead.id)
    assert deferred.status == "deferred" and deferred.attempts == 0
    due = r.zscore(keys.DUE, lead.id)
    opens = datetime.fromtimestamp(due, ZoneInfo("America/New_York"))
    assert (opens.hour, opens.minute) == (start, 0)
    assert cs.get_counselor(r, counselor.id).status == "available"
    scheduled = ScheduledJobRegistry(DEFAULT_QUEUE, connection=services.rq_redis)
    assert any(j.startswith(f"requeue-{lead.id}-") for j in scheduled.get_job_ids())

    # A first callback to someone who called in the last hour is not deferred.
    recent = new_lead(r, settings, "L000002", age=600)
    [rid2] = jobs.request_match(services)
    assert get_reservation(r, rid2).lead_id == recent.id
    assert jobs.place_counselor_call(services, rid2) == "dialed"


def test_counselor_hanging_up_before_the_caller_answers_costs_no_attempt(
    offer: Any, r: redis.Redis, settings: Settings
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    call.counselor_status("completed")  # the parent leg ends: Twilio sends no dial-result
    assert call.state == S.MISSED
    assert back_in_its_place(r, settings, lead, call.rid)
    assert lead_attempts(r, lead.id) == []


def test_bridged_call_ends_even_if_the_dial_result_is_lost(
    offer: Any, r: redis.Redis, settings: Settings
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    call.caller_answers("human")
    call.counselor_status("completed")
    assert call.state == S.CONNECTED
    assert cs.get_counselor(r, counselor.id).status == "wrap_up"
    assert call.dial_ends("completed").find("Say") is None  # too late: nothing to say


def test_a_lead_cancelled_during_the_offer_is_not_dialed(
    offer: Any, r: redis.Redis, standin: Any, settings: Settings, services: Services
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    r.hset(keys.LEAD.format(lead.id), "status", "cancelled")  # the caller cancelled by phone
    doc = call.counselor_presses("1")
    assert doc.find("Dial") is None and doc.find("Hangup") is not None
    assert call.state == S.RECLAIMED
    assert get_lead(r, lead.id).status == "cancelled"
    c = cs.get_counselor(r, counselor.id)
    assert c.status == "available" and c.missed_offers == 0

    call.counselor_status("completed")  # they hang up

    # Cancelled before the dial job ran: nobody is called.
    second = new_lead(r, settings, "L000002")
    [rid] = jobs.request_match(services)
    r.hset(keys.LEAD.format(second.id), "status", "cancelled")
    assert jobs.place_counselor_call(services, rid) == "stale"
    assert len(standin.calls) == 1
    assert cs.get_counselor(r, counselor.id).status == "available"


def test_no_log_line_holds_a_full_number(
    offer: Any, r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    call.caller_answers("human")
    call.dial_ends("completed")
    call.counselor_status("completed")
    text = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "accepted; dialing caller ***23" in text
    for number in (CALLER, COUNSELOR_PHONE):
        assert number[2:] not in text


# --- The real world: answering machines, hang-ups, account errors ------------------------


def said(doc: Any) -> str:
    return " ".join(s.text for s in doc.iter("Say"))


def test_unknown_is_not_a_person_and_nobody_pressing_1_is_not_bridged(
    offer: Any, r: redis.Redis
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    asked = call.caller_answers("unknown")
    gather = asked.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert "press 1" in said(asked)
    assert call.caller_presses("").find("Hangup") is not None  # nobody pressed it
    assert call.state == S.SCREENING
    call.dial_ends("completed", DialBridged="false")
    assert call.state == S.CALLER_UNREACHED
    assert get_lead(r, lead.id).status == "retry_wait"
    assert [a["outcome"] for a in lead_attempts(r, lead.id)] == ["no person answered"]


def test_a_person_who_presses_1_is_bridged_when_detection_says_nothing(
    offer: Any, r: redis.Redis
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    assert call.caller_answers(None).find("Gather") is not None  # no AMD result yet
    bridged = call.caller_presses("1")
    assert bridged.find("Hangup") is None and bridged.find("Gather") is None
    assert call.state == S.BRIDGED
    call.dial_ends("completed", DialBridged="true")
    assert get_lead(r, lead.id).status == "connected"


def test_a_voicemail_hears_a_neutral_message_and_is_never_bridged(
    offer: Any, r: redis.Redis
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    # The screen's first request carries no AnsweredBy (asynchronous detection); even if
    # one came, it is not what decides.
    greeting = parse_twiml(call.post("screen", AnsweredBy="human"))
    assert greeting.find("Redirect") is not None
    call.post("amd", AnsweredBy="machine_end_beep")
    doc = parse_twiml(call.post("screen-check"))
    assert doc.find("Hangup") is not None
    message = said(greeting) + " " + said(doc)
    for word in ("addict", "treatment", "recovery", "hotline", "substance", "drug", "988"):
        assert word not in message.lower()
    call.dial_ends("completed", DialBridged="false")
    assert call.state == S.CALLER_UNREACHED
    assert [a["outcome"] for a in lead_attempts(r, lead.id)] == ["machine"]


def test_a_hang_up_before_the_legs_are_joined_is_not_connected(offer: Any, r: redis.Redis) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    call.caller_answers("human")
    assert call.state == S.BRIDGED and get_lead(r, lead.id).status == "reserved"
    call.dial_ends("completed", DialBridged="false")  # they hung up during the greeting
    assert get_lead(r, lead.id).status == "retry_wait"
    assert [a["outcome"] for a in lead_attempts(r, lead.id)] == ["hung up"]
    assert cs.get_counselor(r, counselor.id).status == "available"


def test_a_counselor_hanging_up_while_the_caller_rings_costs_no_attempt_whatever_comes_first(
    offer: Any, r: redis.Redis, settings: Settings
) -> None:
    call, lead, counselor = offer()
    call.counselor_answers()
    call.counselor_presses("1")
    # The Dial's action arrives before the counselor leg's status callback.
    call.dial_ends("canceled", CallStatus="completed", DialBridged="false")
    call.counselor_status("completed")
    assert call.state == S.MISSED
    assert back_in_its_place(r, settings, lead, call.rid)
    assert lead_attempts(r, lead.id) == []
    assert cs.get_counselor(r, counselor.id).missed_offers == 0


@pytest.mark.parametrize(("code", "http"), [(21210, 400), (21215, 400), (20003, 401), (21219, 400)])
def test_an_account_level_error_pauses_dialing_and_blames_no_counselor(
    standin_env: dict[str, str],
    standin: Any,
    r: redis.Redis,
    settings: Settings,
    services: Services,
    code: int,
    http: int,
) -> None:
    lead = new_lead(r, settings)
    first, second = new_counselor(r), new_counselor(r, "Bo", "+13125550198")
    [rid] = jobs.request_match(services)
    standin.fail_next(http, code, "refused for the account")
    assert jobs.place_counselor_call(services, rid) == "paused"
    assert get_lead(r, lead.id).status == "waiting"  # back in line, no attempt
    assert get_lead(r, lead.id).attempts == 0
    for c in (first, second):
        assert cs.get_counselor(r, c.id).status == "available"  # nobody went offline
    assert account.dialing_paused(r)
    assert jobs.request_match(services) == []  # the next counselor is not tried
    trouble = account.last_trouble(r)
    assert trouble is not None and trouble.code == code and trouble.advice
    # The pause ends by itself; the next call that goes through clears the banner.
    r.delete(keys.DIAL_PAUSED)
    [rid2] = jobs.request_match(services)
    assert jobs.place_counselor_call(services, rid2) == "dialed"
    assert account.last_trouble(r) is None


def test_an_error_on_a_callback_leg_never_speaks_the_hotlines_purpose(
    offer: Any, r: redis.Redis, twilio: Twilio
) -> None:
    call, lead, counselor = offer()
    r.hset(keys.RESERVATION.format(call.rid), "score", "not a number")  # breaks reading it
    for leg in ("screen", "screen-check", "dial-result", "whisper"):
        doc = parse_twiml(call.post(leg))
        text = said(doc).lower()
        assert doc.find("Hangup") is not None and text
        for word in ("overdos", "suicide", "9 1 1", "9 8 8", "addict", "treatment"):
            assert word not in text


def test_the_ivr_apology_gives_the_emergency_numbers_in_both_languages(
    twilio: Twilio,
) -> None:
    doc = parse_twiml(twilio.post("/twilio/fallback", {"CallSid": "CA" + "3" * 32}))
    says = list(doc.iter("Say"))
    assert [s.get("language") for s in says] == ["en-US", "es-US"]
    for s in says:
        assert "9 1 1" in s.text and "9 8 8" in s.text
    assert doc.find("Hangup") is not None


def test_the_static_fallback_file_says_what_the_fallback_route_says(twilio: Twilio) -> None:
    from pathlib import Path
    from xml.etree import ElementTree

    route = parse_twiml(twilio.post("/twilio/fallback", {"CallSid": "CA" + "3" * 32}))
    hosted = ElementTree.parse(Path(__file__).parent.parent / "docs" / "fallback-twiml.xml")
    assert [(s.text, s.attrib) for s in hosted.getroot().iter("Say")] == [
        (s.text, s.attrib) for s in route.iter("Say")
    ]
    assert hosted.getroot().find("Hangup") is not None


def test_a_call_placed_whose_callsid_was_lost_is_hung_up_before_the_offer_is_released(
    standin_env: dict[str, str],
    standin: Any,
    r: redis.Redis,
    settings: Settings,
    services: Services,
) -> None:
    lead = new_lead(r, settings)
    counselor = new_counselor(r)
    [rid] = jobs.request_match(services)
    # The dial job rang the counselor, then died before it could record the CallSid.
    r.set(keys.DIAL_GUARD.format(rid, "counselor"), "1")
    from workers import twilio_rest

    twilio_rest.call_counselor(services, rid, COUNSELOR_PHONE)
    [orphan] = standin.calls
    assert not orphan.is_final
    jobs.sweep_now(services, now=time.time() + settings.lease_seconds + 1)
    assert orphan.is_final  # nobody hears a callback that is over
    assert get_reservation(r, rid).state == S.RECLAIMED
    assert back_in_its_place(r, settings, lead, rid)
    assert cs.get_counselor(r, counselor.id).missed_offers == 0


@pytest.fixture
def callback_caller_id(standin_env: dict[str, str]) -> str:
    """A callback caller ID of its own (set before settings, app and services are built)."""
    standin_env["CALLBACK_CALLER_ID"] = "+12125550100"
    return standin_env["CALLBACK_CALLER_ID"]


def test_callbacks_show_the_callback_caller_id_when_one_is_set(
    callback_caller_id: str,
    standin: Any,
    r: redis.Redis,
    settings: Settings,
    services: Services,
    twilio: Twilio,
) -> None:
    assert settings.hotline_number != callback_caller_id
    new_lead(r, settings)
    new_counselor(r)
    [rid] = jobs.request_match(services)
    assert jobs.place_counselor_call(services, rid) == "dialed"
    assert standin.calls[0].from_ == callback_caller_id  # what the counselor's phone shows
    call = Call(twilio, r, rid)
    call.counselor_answers()
    dial = call.counselor_presses("1").find("Dial")
    assert dial.get("callerId") == callback_caller_id  # what the caller's phone shows
