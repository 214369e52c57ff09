"""Intake in Redis: hang-ups mid-IVR, callers with a pending callback, idempotency, and
signatures behind a TLS-terminating proxy."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import redis
from flask import Flask

from hotline.app import create_app
from routing import counselors, intake, ivr_outcomes, keys, queue, stats
from routing.leads import LEAD_IDS, Lead, LeadStatus, get_lead, lead_events
from settings import Settings, load_settings
from tests import records
from tests.callers import Caller
from tests.conftest import ZONE, Twilio, parse_twiml
from tests.records import save_lead
from workers import jobs
from workers.services import build_services

NUMBER = "+12125550147"


def lead_of(r: redis.Redis, caller: Caller) -> Lead:
    """The lead made for a caller's call."""
    lead_id = r.get(keys.CALL_LEAD.format(caller.call_sid))
    assert lead_id, "no lead for this call"
    lead = get_lead(r, lead_id)
    assert lead is not None
    return lead


def complete_call(dial_in: Any, number: str | None = NUMBER, language: str = "1") -> Caller:
    """A caller who goes through the whole IVR, confirming their caller ID."""
    caller = dial_in(number)
    caller.dials()
    caller.answers(language, "1", "1", "3", "1")
    assert caller.hung_up
    return caller


# --- hang-up mid-IVR ---------------------------------------------------------------------

#: (keys pressed before hanging up, expected language, situation, urgent, insurance)
HANG_UPS = [
    ([], "en", "self", False, "unknown"),
    (["2"], "es", "self", False, "unknown"),
    (["2", "2"], "es", "other", False, "unknown"),
    (["1", "2", "1"], "en", "other", True, "unknown"),
    (["1", "2", "1", "4"], "en", "other", True, "medicare"),  # at the caller-ID read-back
]


@pytest.mark.parametrize(("pressed", "language", "situation", "urgent", "insurance"), HANG_UPS)
def test_hang_up_mid_ivr_still_queues_the_caller_flagged(
    dial_in: Any,
    r: redis.Redis,
    pressed: list[str],
    language: str,
    situation: str,
    urgent: bool,
    insurance: str,
) -> None:
    caller = dial_in(NUMBER)
    caller.dials()
    caller.answers(*pressed)
    caller.hangs_up()
    lead = lead_of(r, caller)
    assert lead.status == LeadStatus.WAITING
    assert lead.ivr_abandoned and lead.consent_at == 0.0  # no explicit consent: flagged
    assert (lead.language, lead.situation, lead.urgent, lead.insurance) == (
        language,
        situation,
        urgent,
        insurance,
    )
    assert lead.phone == NUMBER
    assert r.zscore(queue.bucket_key(language, insurance), lead.id) is not None
    day = stats.day(r, ZONE)
    assert day[stats.IVR_ABANDONED] == 1 and day[stats.LEADS_CREATED] == 1
    assert [e["ivr_abandoned"] for e in lead_events(r, lead.id) if e["event"] == "waiting"] == [
        True
    ]


def test_hang_up_after_keying_a_valid_number_queues_that_number(
    dial_in: Any, r: redis.Redis
) -> None:
    caller = dial_in(NUMBER)
    caller.dials()
    caller.answers("1", "1", "1", "1", "2", "3125550188")  # at the read-back
    caller.hangs_up()
    lead = lead_of(r, caller)
    assert (lead.status, lead.phone, lead.ivr_abandoned) == (
        LeadStatus.WAITING,
        "+13125550188",
        True,
    )


def test_hang_up_after_declining_the_caller_id_queues_nothing(dial_in: Any, r: redis.Redis) -> None:
    # They asked not to be called on the caller ID and gave no other number.
    caller = dial_in(NUMBER)
    caller.dials()
    caller.answers("1", "1", "1", "1", "2")
    caller.hangs_up()
    lead = lead_of(r, caller)
    assert (lead.status, lead.status_reason) == (LeadStatus.FAILED, "no_callback_number")
    assert lead.ivr_abandoned
    assert queue.waiting_count(r) == 0
    assert stats.day(r, ZONE)["no_callback_number"] == 1


@pytest.mark.parametrize("pressed", [[], ["1", "1", "1", "5"], ["1", "1", "1", "5", "12"]])
def test_hang_up_with_a_withheld_number_queues_nothing(
    dial_in: Any, r: redis.Redis, pressed: list[str]
) -> None:
    caller = dial_in(None)
    caller.dials()
    caller.answers(*pressed)
    caller.hangs_up()
    assert lead_of(r, caller).status == LeadStatus.FAILED
    assert queue.waiting_count(r) == 0


@pytest.mark.parametrize("status", ["busy", "failed", "no-answer", "canceled"])
def test_other_final_statuses_count_as_hanging_up(
    dial_in: Any, r: redis.Redis, status: str
) -> None:
    caller = dial_in()
    caller.dials()
    caller.hangs_up(status)
    assert lead_of(r, caller).status == LeadStatus.WAITING


@pytest.mark.parametrize("status", ["ringing", "in-progress", "queued", ""])
def test_a_call_still_going_is_left_alone(dial_in: Any, r: redis.Redis, status: str) -> None:
    caller = dial_in()
    caller.dials()
    caller.hangs_up(status)
    assert lead_of(r, caller).status == LeadStatus.INTAKE


def test_hang_up_after_the_ivr_changes_nothing(dial_in: Any, r: redis.Redis) -> None:
    caller = complete_call(dial_in)
    before = lead_of(r, caller)
    caller.hangs_up()
    caller.hangs_up()  # status callbacks can repeat
    after = lead_of(r, caller)
    assert (after.status, after.ivr_abandoned, after.consent_at) == (
        LeadStatus.WAITING,
        False,
        before.consent_at,
    )
    assert stats.day(r, ZONE)[stats.LEADS_CREATED] == 1


def test_repeated_hang_up_queues_once(dial_in: Any, r: redis.Redis) -> None:
    caller = dial_in()
    caller.dials()
    caller.answers("1")
    caller.hangs_up()
    caller.hangs_up()
    assert queue.waiting_count(r) == 1
    day = stats.day(r, ZONE)
    assert day[stats.IVR_ABANDONED] == 1 and day[stats.LEADS_CREATED] == 1


def test_status_for_an_unknown_call_is_accepted_and_ignored(twilio: Twilio, r: redis.Redis) -> None:
    response = twilio.post("/twilio/status", {"CallSid": "CAunknown", "CallStatus": "completed"})
    assert parse_twiml(response).tag == "Response"
    assert r.dbsize() == 0


def test_a_late_step_after_hanging_up_does_not_change_the_queued_lead(
    dial_in: Any, r: redis.Redis
) -> None:
    caller = dial_in()
    caller.dials()
    caller.answers("1", "1", "1")
    caller.hangs_up()
    caller.presses("2")  # insurance "hmo" arriving after the status callback
    lead = lead_of(r, caller)
    assert lead.insurance == "unknown"  # its bucket is fixed once queued
    assert r.zscore(queue.bucket_key("en", "unknown"), lead.id) is not None


# --- callers with a pending callback -------------------------------------------------------


@pytest.mark.parametrize(("language", "locale"), [("1", "en-US"), ("2", "es-US")])
def test_a_caller_with_a_pending_callback_is_told_and_keeps_their_place(
    dial_in: Any, r: redis.Redis, language: str, locale: str
) -> None:
    complete_call(dial_in, "+12125550101")
    first = complete_call(dial_in, NUMBER, language)
    complete_call(dial_in, "+12125550103")
    lead = lead_of(r, first)
    score = r.zscore(keys.WAITING_ALL, lead.id)

    again = dial_in(NUMBER)
    again.dials()
    assert again.step == "pending"
    assert {s.get("language") for s in again.says} == {locale}  # their language, remembered
    assert "9 1 1" in again.said  # the emergency notice comes first, as always
    assert ("number 2 in line" if language == "1" else "número 2 en la fila") in again.said
    again.presses("1")
    assert again.hung_up
    assert r.zscore(keys.WAITING_ALL, lead.id) == score
    assert get_lead(r, lead.id).status == LeadStatus.WAITING  # type: ignore[union-attr]
    assert r.zcard(keys.LEADS_BY_TIME) == 3  # no new lead
    assert r.get(keys.CALL_LEAD.format(again.call_sid)) == lead.id
    assert "caller_kept" in [e["event"] for e in lead_events(r, lead.id)]


def test_a_pending_caller_can_cancel(dial_in: Any, r: redis.Redis, settings: Settings) -> None:
    first = complete_call(dial_in)
    lead = lead_of(r, first)
    again = dial_in(NUMBER)
    again.dials()
    again.presses("2")
    assert again.hung_up and "cancelled" in again.said
    cancelled = get_lead(r, lead.id)
    assert cancelled is not None
    assert (cancelled.status, cancelled.status_reason) == (
        LeadStatus.CANCELLED,
        "caller_cancelled",
    )
    assert queue.waiting_count(r) == 0
    assert records.find_pending(r, settings, NUMBER) is None
    # the next call starts a new request, with a new place in line
    third = dial_in(NUMBER)
    third.dials()
    assert third.step == "language"
    assert lead_of(r, third).id != lead.id


def test_a_pending_caller_who_says_nothing_keeps_the_callback(dial_in: Any, r: redis.Redis) -> None:
    lead = lead_of(r, complete_call(dial_in))
    again = dial_in(NUMBER)
    again.dials()
    for _ in range(3):
        assert again.step == "pending"
        again.waits()
    assert again.hung_up and "still in place" in again.said
    assert get_lead(r, lead.id).status == LeadStatus.WAITING  # type: ignore[union-attr]


def test_a_pending_caller_hanging_up_changes_nothing(dial_in: Any, r: redis.Redis) -> None:
    lead = lead_of(r, complete_call(dial_in))
    again = dial_in(NUMBER)
    again.dials()
    again.hangs_up()
    after = get_lead(r, lead.id)
    assert after is not None
    assert (after.status, after.ivr_abandoned) == (LeadStatus.WAITING, False)
    assert queue.waiting_count(r) == 1


def test_the_keyed_callback_number_is_the_one_recognised(
    dial_in: Any, r: redis.Redis, settings: Settings
) -> None:
    caller = dial_in(None)
    caller.dials()
    caller.answers("1", "1", "1", "1", "3125550188", "1")
    lead = lead_of(r, caller)
    assert records.find_pending(r, settings, "+13125550188") == lead
    again = dial_in("+13125550188")
    again.dials()
    assert again.step == "pending"
    # the pending key is a digest: no number in any Redis key
    assert not [k for k in r.keys("*") if "5550188" in k]


def test_a_caller_being_called_right_now_cannot_cancel(dial_in: Any, r: redis.Redis) -> None:
    lead = lead_of(r, complete_call(dial_in))
    # matching reserved a counselor for this lead (the routing issue's job)
    records.remove_waiting(r, lead)
    lead.status = LeadStatus.RESERVED.value
    save_lead(r, lead)
    again = dial_in(NUMBER)
    again.dials()
    assert "still in place" in again.said  # no place in line while being served
    again.presses("2")
    assert "calling you back right now" in again.said
    assert get_lead(r, lead.id).status == LeadStatus.RESERVED  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [LeadStatus.CONNECTED, LeadStatus.UNREACHABLE])
def test_a_finished_callback_is_not_pending(
    dial_in: Any, r: redis.Redis, status: LeadStatus
) -> None:
    lead = lead_of(r, complete_call(dial_in))
    records.remove_waiting(r, lead)
    lead.status = status.value
    save_lead(r, lead)
    again = dial_in(NUMBER)
    again.dials()
    assert again.step == "language"  # a new request
    assert lead_of(r, again).id != lead.id


def test_first_call_time_is_kept_for_a_pending_caller(dial_in: Any, r: redis.Redis) -> None:
    lead = lead_of(r, complete_call(dial_in))
    again = dial_in(NUMBER)
    again.dials()
    again.presses("1")
    assert get_lead(r, lead.id).first_call_at == lead.first_call_at  # type: ignore[union-attr]


# --- intake functions directly -------------------------------------------------------------


def test_complete_is_idempotent_and_only_the_first_queues(
    r: redis.Redis, settings: Settings
) -> None:
    lead = Lead(id="L000001", call_sid="CA1", phone=NUMBER, first_call_at=1.0, created_at=1.0)
    save_lead(r, lead)
    queued, newly, _ = ivr_outcomes.complete(r, settings, lead.id)
    assert newly and queued is not None and queued.status == LeadStatus.WAITING
    again, newly_again, _ = ivr_outcomes.complete(r, settings, lead.id, abandoned=True)
    assert not newly_again and again is not None and not again.ivr_abandoned
    assert queue.waiting_count(r) == 1
    assert ivr_outcomes.complete(r, settings, "L999999") == (None, False, None)


def test_a_waiting_lead_lost_from_the_queue_is_put_back(r: redis.Redis, settings: Settings) -> None:
    lead = Lead(id="L000002", call_sid="CA2", phone=NUMBER, first_call_at=5.0, created_at=5.0)
    save_lead(r, lead)
    queued, _, _ = ivr_outcomes.complete(r, settings, lead.id)
    assert queued is not None
    records.remove_waiting(r, queued)  # as if the process died before add_waiting
    ivr_outcomes.complete(r, settings, lead.id)
    assert r.zscore(keys.WAITING_ALL, lead.id) == queued.queue_score(
        settings.urgent_head_start, settings.self_head_start
    )


# --- signatures behind a TLS-terminating proxy --------------------------------------------


@pytest.fixture
def proxied_app(env: dict[str, str], r: redis.Redis) -> Flask:
    """The app as deployed behind one proxy that terminates TLS."""
    settings = load_settings(
        {**env, "TRUSTED_PROXIES": "1", "PUBLIC_BASE_URL": "https://calls.hotline.example"}
    )
    return create_app(settings, build_services(settings), test_config={"TESTING": True})


def _signed_post(app: Flask, signed_url: str, params: dict[str, str]) -> Any:
    from twilio.request_validator import RequestValidator

    from tests.conftest import AUTH_TOKEN

    signature = RequestValidator(AUTH_TOKEN).compute_signature(signed_url, params)
    return app.test_client().post(
        "/twilio/voice",
        data=params,
        base_url="http://web:8000",
        headers={
            "X-Twilio-Signature": signature,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "calls.hotline.example",
            "X-Forwarded-For": "54.172.60.1",
        },
    )


def test_behind_a_proxy_a_signature_for_the_public_url_is_accepted(
    proxied_app: Flask, r: redis.Redis
) -> None:
    params = {"CallSid": "CA" + "a" * 32, "From": NUMBER, "CallStatus": "ringing"}
    response = _signed_post(proxied_app, "https://calls.hotline.example/twilio/voice", params)
    twiml = parse_twiml(response)
    lead_id = r.get(keys.CALL_LEAD.format(params["CallSid"]))
    assert lead_id
    assert (
        twiml.find("Gather").get("action")
        == f"https://calls.hotline.example/twilio/ivr/language?lead={lead_id}"
    )


@pytest.mark.parametrize(
    "signed_url",
    [
        "http://web:8000/twilio/voice",  # the internal URL the proxy forwarded to
        "http://calls.hotline.example/twilio/voice",  # the public host without TLS
        "https://calls.hotline.example/twilio/status",  # another path
    ],
)
def test_behind_a_proxy_a_signature_for_another_url_is_refused(
    proxied_app: Flask, r: redis.Redis, signed_url: str
) -> None:
    params = {"CallSid": "CA" + "b" * 32, "From": NUMBER, "CallStatus": "ringing"}
    assert _signed_post(proxied_app, signed_url, params).status_code == 403
    assert r.dbsize() == 0


# --- round trips --------------------------------------------------------------------------


class CountingConnection:
    """Mixed into a connection class: counts what it sends; one send is one round trip (a
    pipeline's commands go in one)."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)  # type: ignore[misc]


def round_trips(call: Any) -> int:
    """Round trips ``call`` made."""
    before = CountingConnection.sent
    call()
    return CountingConnection.sent - before


@pytest.mark.parametrize("keyed", [False, True])
def test_every_ivr_step_is_one_round_trip_the_confirming_one_included(
    r: redis.Redis, settings: Settings, redis_server: Any, keyed: bool
) -> None:
    """A new call, each menu step, the number entry and the step that queues the lead and
    says the place and wait: one Redis round trip each."""
    pool = redis.ConnectionPool.from_url(redis_server.url, decode_responses=True)
    pool.connection_class = type("Counting", (CountingConnection, pool.connection_class), {})
    counted = redis.Redis(connection_pool=pool)
    warm = "CAwarm" + ("k" if keyed else "c")
    intake.answer_call(counted, settings, warm, NUMBER)  # scripts loaded once (NOSCRIPT)
    for step, digits in [("language", "1"), ("situation", "1"), ("urgency", "2")]:
        intake.answer_step(counted, settings, warm, step, digits, NUMBER)
    sid = "CAcount" + ("k" if keyed else "c")
    opened = None

    def call() -> None:
        nonlocal opened
        opened = intake.answer_call(counted, settings, sid, NUMBER)

    assert round_trips(call) == 1
    assert opened is not None and opened.lead_id  # named in each step's URL, as Twilio posts
    steps = [("language", "2"), ("situation", "1"), ("urgency", "1"), ("insurance", "3")]
    if keyed:
        steps += [("caller-id", "2"), ("enter-number", "3125550188#"), ("confirm-number", "1")]
    else:
        steps += [("caller-id", "1")]
    turns = []
    for step, digits in steps:
        turn = None

        def answer(step: str = step, digits: str = digits) -> None:
            nonlocal turn
            turn = intake.answer_step(counted, settings, sid, step, digits, NUMBER, opened.lead_id)

        assert round_trips(answer) == 1, step
        turns.append(turn)
    assert turns[-1] is not None and turns[-1].queued
    assert [p.key for p in turns[-1].say] == ["closing"]
    assert turns[-1].say[0].params["place"] == 1
    lead = get_lead(r, r.get(keys.CALL_LEAD.format(sid)))
    assert lead is not None and lead.status == LeadStatus.WAITING.value
    assert lead.phone == ("+13125550188" if keyed else NUMBER)
    # Queued as routing.queue.add_waiting would: its fixed score, in its bucket, findable
    # by number, counted.
    score = lead.queue_score(settings.urgent_head_start, settings.self_head_start)
    assert r.zscore(keys.WAITING_ALL, lead.id) == score
    assert r.zscore(queue.bucket_key("es", "medicaid"), lead.id) == score
    assert records.find_pending(r, settings, lead.phone) is not None
    assert lead.consent_at > 0 and not lead.ivr_abandoned
    assert [e["event"] for e in lead_events(r, lead.id)][-1] == "waiting"
    assert r.hget(stats.day_key(ZONE), stats.LEADS_CREATED) == "1"
    assert r.zscore(keys.INTAKE, lead.id) is None  # no longer a lead that may be in the IVR
    assert r.hget(keys.IVR_SESSION.format(sid), "digest") is None  # needed only to queue
    counted.close()


@pytest.mark.parametrize("free", [False, True])
def test_the_confirming_webhook_runs_matching_only_when_a_counselor_is_free(
    r: redis.Redis, settings: Settings, redis_server: Any, free: bool
) -> None:
    """The webhook whose step queues the caller runs matching at once when the step's
    script saw a counselor free (the pair is reserved before the caller hangs up), and not
    at all when nobody was: then the step is its one round trip, and the caller waits in
    line for the next counselor who goes free (whose going free asks for matching)."""
    pool = redis.ConnectionPool.from_url(redis_server.url, decode_responses=True)
    pool.connection_class = type("Counting", (CountingConnection, pool.connection_class), {})
    counted = redis.Redis(connection_pool=pool)
    services = replace(build_services(settings), redis=counted)
    app = create_app(settings, services, test_config={"TESTING": True})
    dana = counselors.create_counselor(r, "Dana", "+13125550100", ["en"])  # on shift, or not
    if free:
        counselors.make_available(r, dana)
    caller = Caller(Twilio(app.test_client()), NUMBER)
    caller.dials()
    caller.answers("1", "1", "2", "3")  # English, for themselves, not urgent, Medicaid

    trips = round_trips(lambda: caller.presses("1"))  # the number they call from is right

    lead = get_lead(r, r.get(keys.CALL_LEAD.format(caller.call_sid)))
    assert lead is not None and "number 1 in line" in caller.said
    if free:
        assert lead.status == LeadStatus.RESERVED  # matched inline: Dana is being dialed
        assert counselors.get_counselor(r, dana.id).status != "available"  # type: ignore[union-attr]
        assert trips > 1
    else:
        assert lead.status == LeadStatus.WAITING and queue.position(r, lead.id) == 1
        assert trips == 1  # no matching round trips: nobody could have been paired
        counselors.make_available(r, dana)
        assert jobs.request_match(services)  # what Dana going free asks for pairs them
        assert get_lead(r, lead.id).status == LeadStatus.RESERVED  # type: ignore[union-attr]
    counted.close()


def test_a_lead_id_counter_that_went_back_never_overwrites_a_lead(
    r: redis.Redis, settings: Settings
) -> None:
    """Lead ids are minted ahead (routing.ids); after a restore that put the counter back,
    the script refuses an id whose lead exists and the call gets the next free one."""
    first = intake.answer_call(r, settings, "CA" + "a" * 32, NUMBER)
    r.set(keys.LEAD_SEQ, 0)
    LEAD_IDS.give_back(r, first.lead_id)  # as if this process had it still to hand out
    second = intake.answer_call(r, settings, "CA" + "b" * 32, "+13125550188")
    assert second.lead_id != first.lead_id
    assert get_lead(r, first.lead_id).phone == NUMBER  # type: ignore[union-attr]
    assert get_lead(r, second.lead_id).phone == "+13125550188"  # type: ignore[union-attr]
