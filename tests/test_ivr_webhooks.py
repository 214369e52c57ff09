"""The caller's IVR through the real webhooks: signed requests, TwiML, a real Redis."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlparse

import pytest
import redis

from routing import keys, queue, stats
from routing.leads import LeadStatus, get_lead, lead_events
from tests.callers import Caller
from tests.conftest import PUBLIC_BASE_URL, ZONE, Twilio, parse_twiml

NUMBER = "+12125550147"
LOCALES = {"en": "en-US", "es": "es-US"}
LANGUAGE_KEY = {"en": "1", "es": "2"}


def lead_of(r: redis.Redis, caller: Caller) -> Any:
    """The lead made for a caller's call."""
    lead_id = r.get(keys.CALL_LEAD.format(caller.call_sid))
    assert lead_id, "no lead for this call"
    return get_lead(r, lead_id)


def leads(r: redis.Redis) -> list[str]:
    """Every lead id ever created."""
    return list(r.zrange(keys.LEADS_BY_TIME, 0, -1))


# --- the whole IVR -----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es"])
def test_first_the_emergency_notice_and_the_language_choice(
    dial_in: Any, r: redis.Redis, language: str
) -> None:
    caller = dial_in()
    caller.dials()
    says = caller.says
    assert [s.get("language") for s in says] == ["en-US", "es-US"]
    assert "9 1 1" in says[0].text and "9 8 8" in says[0].text
    assert "9 1 1" in says[1].text and "oprima 2" in says[1].text
    gather = caller.gather
    assert gather.get("input") == "dtmf"
    assert gather.get("numDigits") == "1"
    assert gather.get("method") == "POST"
    lead_id = r.get(keys.CALL_LEAD.format(caller.call_sid))
    assert gather.get("action") == PUBLIC_BASE_URL + f"/twilio/ivr/language?lead={lead_id}"
    # no key: Twilio falls through to the same step without Digits
    redirect = caller.twiml.find("Redirect")
    assert redirect is not None and redirect.text == gather.get("action")


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize(
    ("situation_key", "situation", "urgent_key", "urgent"),
    [("1", "self", "1", True), ("2", "other", "2", False)],
)
def test_complete_ivr_queues_the_lead_and_gives_place_and_wait(
    dial_in: Any,
    r: redis.Redis,
    language: str,
    situation_key: str,
    situation: str,
    urgent_key: str,
    urgent: bool,
) -> None:
    caller = dial_in(NUMBER)
    caller.dials()
    steps = []
    for key in (LANGUAGE_KEY[language], situation_key, urgent_key, "3"):
        caller.presses(key)
        steps.append(caller.step)
        assert caller.languages == {LOCALES[language]}  # the caller's language from now on
        assert caller.gather.get("input") == "dtmf"
    assert steps == ["situation", "urgency", "insurance", "caller-id"]
    assert "0 1 4 7" in caller.said  # last four of the caller ID
    caller.presses("1")

    assert caller.hung_up and caller.step is None
    assert caller.languages == {LOCALES[language]}
    assert ("number 1 in line" if language == "en" else "número 1 en la fila") in caller.said
    lead = lead_of(r, caller)
    assert lead.status == LeadStatus.WAITING
    assert (lead.phone, lead.language, lead.situation) == (NUMBER, language, situation)
    assert (lead.urgent, lead.insurance, lead.ivr_abandoned) == (urgent, "medicaid", False)
    assert lead.consent_at >= lead.first_call_at > 0
    assert lead.call_sid == caller.call_sid
    assert queue.position(r, lead.id) == 1
    assert r.zscore(queue.bucket_key(language, "medicaid"), lead.id) is not None
    day = stats.day(r, ZONE)
    assert day[stats.CALLS_RECEIVED] == 1 and day[stats.LEADS_CREATED] == 1
    assert stats.IVR_ABANDONED not in day


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize(
    ("key", "insurance"),
    [
        ("1", "ppo"),
        ("2", "hmo"),
        ("3", "medicaid"),
        ("4", "medicare"),
        ("5", "none"),
        ("6", "unknown"),
    ],
)
def test_insurance_menu(
    dial_in: Any, r: redis.Redis, language: str, key: str, insurance: str
) -> None:
    caller = dial_in()
    caller.dials()
    caller.answers(LANGUAGE_KEY[language], "1", "2", key, "1")
    lead = lead_of(r, caller)
    assert (lead.insurance, lead.status) == (insurance, LeadStatus.WAITING)
    assert r.zscore(queue.bucket_key(language, insurance), lead.id) is not None


def test_place_in_line_follows_priority(dial_in: Any, r: redis.Redis) -> None:
    first = dial_in("+12125550101")
    first.dials()
    first.answers("1", "2", "2", "6", "1")  # someone else, not urgent
    assert "number 1 in line" in first.said
    second = dial_in("+12125550102")
    second.dials()
    second.answers("1", "1", "1", "6", "1")  # for themselves, urgent: a head start
    assert "number 1 in line" in second.said
    third = dial_in("+12125550103")
    third.dials()
    third.answers("1", "2", "2", "6", "1")
    assert "number 3 in line" in third.said


def test_the_wait_given_is_the_queue_estimate(dial_in: Any, r: redis.Redis) -> None:
    for n in range(3):
        caller = dial_in(f"+1212555010{n}")
        caller.dials()
        caller.answers("2", "2", "2", "6", "1")
    minutes = queue.estimate_wait_seconds(r, 3) // 60
    assert f"aproximadamente {minutes} minutos" in caller.said


# --- the callback number -----------------------------------------------------------------


def test_each_caller_hears_their_own_number_and_the_same_menus(dial_in: Any) -> None:
    """Fixed menus are rendered once per process; what holds a caller's data never is."""
    heard = []
    for number in (NUMBER, "+13125550188"):
        caller = dial_in(number)
        caller.dials()
        menus = []
        for key in ("1", "1", "2", "3"):
            caller.presses(key)
            menus.append((caller.said, caller.gather.get("action").split("?")[0]))
        heard.append((menus[:-1], menus[-1][0]))
    (first_menus, first_read_back), (second_menus, second_read_back) = heard
    assert first_menus == second_menus
    assert "0 1 4 7" in first_read_back and "0 1 8 8" not in first_read_back
    assert "0 1 8 8" in second_read_back and "0 1 4 7" not in second_read_back


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_different_number_is_keyed_read_back_and_confirmed(
    dial_in: Any, r: redis.Redis, language: str
) -> None:
    caller = dial_in(NUMBER)
    caller.dials()
    caller.answers(LANGUAGE_KEY[language], "1", "2", "6")
    caller.presses("2")  # not the caller ID
    assert caller.step == "enter-number"
    assert lead_of(r, caller).phone == ""  # the caller ID is no longer the callback number
    caller.presses("3125550188")
    assert caller.step == "confirm-number"
    assert "3 1 2, 5 5 5, 0 1 8 8" in caller.said
    assert caller.languages == {LOCALES[language]}
    caller.presses("1")
    lead = lead_of(r, caller)
    assert (lead.phone, lead.status) == ("+13125550188", LeadStatus.WAITING)
    assert lead.consent_at > 0


def test_number_entry_ends_on_pound_or_after_a_pause(dial_in: Any) -> None:
    caller = dial_in(None)
    caller.dials()
    caller.answers("1", "1", "2", "4")
    gather = caller.gather
    assert gather.get("action").split("?")[0] == PUBLIC_BASE_URL + "/twilio/ivr/enter-number"
    # No numDigits: ending at the tenth digit would send the pound into the next menu.
    assert "numDigits" not in gather.attrib
    assert gather.get("finishOnKey") == "#"
    assert 5 <= int(gather.get("timeout", "0")) <= 6  # no pound: submitted after a pause


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("keyed", ["3125550188", "13125550188", "3125550188#", "#3125550188"])
def test_number_keyed_with_or_without_pound_is_read_back(
    dial_in: Any, r: redis.Redis, language: str, keyed: str
) -> None:
    caller = dial_in(None)
    caller.dials()
    caller.answers(LANGUAGE_KEY[language], "1", "2", "4", keyed)
    assert caller.step == "confirm-number"
    assert "3 1 2, 5 5 5, 0 1 8 8" in caller.said
    caller.presses("1")
    assert lead_of(r, caller).phone == "+13125550188"


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_pound_typed_ahead_into_the_read_back_reads_it_again(
    dial_in: Any, r: redis.Redis, language: str
) -> None:
    caller = dial_in(None)
    caller.dials()
    caller.answers(LANGUAGE_KEY[language], "1", "2", "4", "3125550188")
    read_back = caller.said
    gather = caller.gather
    # Pound does not end this menu, so a typed-ahead one arrives as Digits "#".
    assert gather.get("numDigits") == "1" and "#" not in gather.get("finishOnKey", "#")
    for _ in range(4):  # more than MAX_TRIES: a pound is never a try
        caller.presses("#")
        assert caller.step == "confirm-number" and not caller.hung_up
        assert caller.said == read_back  # the number again, and no "wrong key" apology
    caller.presses("1")
    lead = lead_of(r, caller)
    assert (lead.phone, lead.status) == ("+13125550188", LeadStatus.WAITING)


def test_keyed_number_can_be_entered_again(dial_in: Any, r: redis.Redis) -> None:
    caller = dial_in(NUMBER)
    caller.dials()
    caller.answers("1", "1", "2", "6", "2", "3125550188")
    caller.presses("2")  # "that is wrong"
    assert caller.step == "enter-number"
    caller.answers("3125550199", "1")
    assert lead_of(r, caller).phone == "+13125550199"


@pytest.mark.parametrize("withheld", [None, "", "anonymous", "Restricted", "+266696687", "+1555"])
def test_withheld_caller_id_goes_straight_to_keying(
    dial_in: Any, r: redis.Redis, withheld: str | None
) -> None:
    caller = dial_in(withheld)
    caller.dials()
    caller.answers("1", "1", "2", "4")
    assert caller.step == "enter-number"
    caller.answers("2125550123", "1")
    lead = lead_of(r, caller)
    assert (lead.phone, lead.status) == ("+12125550123", LeadStatus.WAITING)


@pytest.mark.parametrize("language", ["en", "es"])
def test_invalid_number_is_explained_then_accepted(
    dial_in: Any, r: redis.Redis, language: str
) -> None:
    caller = dial_in(None)
    caller.dials()
    caller.answers(LANGUAGE_KEY[language], "1", "2", "4")
    caller.presses("1234567890")
    assert caller.step == "enter-number"
    assert ("not a valid phone number" if language == "en" else "no es un número") in caller.said
    caller.answers("2125550123", "1")
    assert lead_of(r, caller).status == LeadStatus.WAITING


@pytest.mark.parametrize("language", ["en", "es"])
def test_no_valid_number_after_three_tries_apologises_and_records_it(
    dial_in: Any, r: redis.Redis, settings: Any, language: str
) -> None:
    caller = dial_in(None)
    caller.dials()
    caller.answers(LANGUAGE_KEY[language], "1", "2", "4", "555")
    caller.waits()
    caller.presses("0000000000")
    assert caller.hung_up
    said = caller.said
    assert "9 1 1" in said and "9 8 8" in said
    assert "8 0 0, 4 9 2, 7 8 4 8" in said  # the hotline's number, to call again
    assert caller.languages == {LOCALES[language]}
    lead = lead_of(r, caller)
    assert (lead.status, lead.status_reason) == (LeadStatus.FAILED, "no_callback_number")
    assert queue.waiting_count(r) == 0
    assert stats.day(r, ZONE)["no_callback_number"] == 1
    assert "failed" in [e["event"] for e in lead_events(r, lead.id)]


# --- bad input ---------------------------------------------------------------------------

#: Keys that reach each menu (after dialing) with a caller ID.
TO_STEP = {
    "language": [],
    "situation": ["1"],
    "urgency": ["1", "1"],
    "insurance": ["1", "1", "1"],
    "caller-id": ["1", "1", "1", "1"],
    "enter-number": ["1", "1", "1", "1", "2"],
    "confirm-number": ["1", "1", "1", "1", "2", "2125550123"],
}


@pytest.mark.parametrize("step", list(TO_STEP))
@pytest.mark.parametrize("bad", ["wrong", "timeout"])
@pytest.mark.parametrize("language", ["en", "es"])
def test_a_wrong_key_or_silence_reprompts_the_same_menu(
    dial_in: Any, r: redis.Redis, step: str, bad: str, language: str
) -> None:
    caller = dial_in()
    caller.dials()
    keys_ = list(TO_STEP[step])
    if keys_:
        keys_[0] = LANGUAGE_KEY[language]
    caller.answers(*keys_)
    assert caller.step == step
    first_menu = caller.says[-1].text
    if bad == "wrong":
        caller.presses("9" if step != "enter-number" else "99")
    else:
        caller.waits()
    assert caller.step == step and not caller.hung_up
    assert caller.says[-1].text == first_menu or step == "language"
    apology = caller.says[0].text
    expected = {
        ("en", "wrong"): "not one of the choices",
        ("es", "wrong"): "no es una de las opciones",
        ("en", "timeout"): "did not get your answer",
        ("es", "timeout"): "no recibimos su respuesta",
    }
    if step == "enter-number" and bad == "wrong":
        expected = {(language, bad): "not a valid" if language == "en" else "no es un número"}
    if step != "language":
        assert expected[(language, bad)] in apology
    else:
        assert expected[("en", bad)] in apology
    assert lead_of(r, caller).status == LeadStatus.INTAKE


def test_a_silent_caller_is_still_queued_with_safe_defaults(dial_in: Any, r: redis.Redis) -> None:
    caller = dial_in(NUMBER)
    caller.dials()
    menus = []
    while not caller.hung_up:
        menus.append(caller.step)
        caller.waits()
        assert len(menus) < 20
    assert (
        menus
        == ["language"] * 3
        + ["situation"] * 3
        + ["urgency"] * 3
        + ["insurance"] * 3
        + ["caller-id"] * 3
    )
    lead = lead_of(r, caller)
    assert (lead.language, lead.situation, lead.urgent, lead.insurance) == (
        "en",
        "self",
        False,
        "unknown",
    )
    assert (lead.phone, lead.status) == (NUMBER, LeadStatus.WAITING)
    assert "number 1 in line" in caller.said


def test_duplicate_delivery_of_the_voice_url_makes_one_lead(dial_in: Any, r: redis.Redis) -> None:
    caller = dial_in()
    first = caller.dials()
    again = caller.dials()
    assert [s.text for s in again.iter("Say")] == [s.text for s in first.iter("Say")]
    assert len(leads(r)) == 1 and stats.day(r, ZONE)[stats.CALLS_RECEIVED] == 1
    caller.answers("2", "1")
    caller.dials()  # a late retry mid-IVR: the caller is where they were
    assert caller.step == "urgency" and caller.languages == {"es-US"}
    assert len(leads(r)) == 1


def test_a_repeated_step_request_does_not_answer_twice(dial_in: Any, r: redis.Redis) -> None:
    caller = dial_in()
    caller.dials()
    caller.answers("1", "2")  # for someone else
    assert caller.step == "urgency"
    # Twilio retries the situation request (same Digits): the caller stays at urgency.
    caller.twilio.post("/twilio/ivr/situation", caller.params(Digits="1"))
    lead = lead_of(r, caller)
    assert lead.situation == "other"
    response = caller.twilio.post("/twilio/ivr/situation", caller.params(Digits="1"))
    assert urlparse(parse_twiml(response).find("Gather").get("action")).path.endswith("/urgency")


def test_the_final_step_repeated_gives_the_same_closing_and_queues_once(
    dial_in: Any, r: redis.Redis
) -> None:
    caller = dial_in()
    caller.dials()
    caller.answers("1", "1", "1", "1", "1")
    closing = caller.said
    again = parse_twiml(caller.twilio.post("/twilio/ivr/caller-id", caller.params(Digits="1")))
    assert " ".join(s.text for s in again.iter("Say")) == closing
    assert queue.waiting_count(r) == 1 and stats.day(r, ZONE)[stats.LEADS_CREATED] == 1


def test_unknown_call_sid_at_a_step_restarts_politely(twilio: Twilio, r: redis.Redis) -> None:
    caller = Caller(twilio, NUMBER)
    caller._post("/twilio/ivr/insurance", caller.params(Digits="3"))
    assert caller.step == "language"
    assert caller.says[0].text.startswith("Sorry, we lost your place")
    assert "9 1 1" in caller.said
    caller.answers("1", "1", "1", "1", "1")
    assert caller.hung_up and lead_of(r, caller).status == LeadStatus.WAITING


@pytest.mark.parametrize("step", ["language", "no-such-step", "end"])
def test_unknown_step_for_a_known_call_repeats_where_the_caller_is(dial_in: Any, step: str) -> None:
    caller = dial_in()
    caller.dials()
    caller.answers("2")
    response = caller.twilio.post(f"/twilio/ivr/{step}", caller.params(Digits="1"))
    twiml = parse_twiml(response)
    assert urlparse(twiml.find("Gather").get("action")).path.endswith("/situation")
    assert {s.get("language") for s in twiml.iter("Say")} == {"es-US"}


@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/ivr/language", "/twilio/status"])
def test_missing_call_sid_gets_an_apology_not_an_error(
    twilio: Twilio, r: redis.Redis, path: str
) -> None:
    response = twilio.post(path, {"From": NUMBER, "Digits": "1"})
    twiml = parse_twiml(response)  # 200, text/xml
    assert [child.tag for child in twiml][-1] == "Hangup"
    assert "9 1 1" in " ".join(s.text for s in twiml.iter("Say"))
    assert leads(r) == [] and r.dbsize() == 0


def test_oversize_body_is_refused(twilio: Twilio, r: redis.Redis) -> None:
    params = {"CallSid": "CA" + "1" * 32, "From": NUMBER, "Padding": "x" * (65 * 1024)}
    response = twilio.post("/twilio/voice", params)
    assert response.status_code == 413
    assert r.dbsize() == 0


@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/ivr/caller-id", "/twilio/status"])
def test_forged_signature_changes_nothing(
    dial_in: Any, client: Any, r: redis.Redis, path: str
) -> None:
    caller = dial_in()
    caller.dials()
    caller.answers("1", "1", "1", "1")
    before = {k: r.type(k) for k in r.keys("*")}
    snapshot = r.hgetall(keys.IVR_SESSION.format(caller.call_sid))
    forged = Twilio(client, auth_token="not-the-real-token")
    params = caller.params(Digits="1", CallStatus="completed")
    assert forged.post(path, params).status_code == 403
    assert client.post(path, data=params).status_code == 403  # unsigned
    assert {k: r.type(k) for k in r.keys("*")} == before
    assert r.hgetall(keys.IVR_SESSION.format(caller.call_sid)) == snapshot
    assert lead_of(r, caller).status == LeadStatus.INTAKE


# --- privacy -----------------------------------------------------------------------------


def test_no_log_line_holds_the_callers_number(
    dial_in: Any, r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caller = dial_in("+13125550166")
    caller.dials()
    caller.answers("1", "1", "1", "1", "2", "2125550177", "1")
    other = dial_in("+13125550167")
    other.dials()
    other.answers("2", "2")
    other.hangs_up()
    again = dial_in("+12125550177")  # calls back while pending
    again.dials()
    again.presses("2")
    assert caplog.records, "nothing was logged at all"
    for record in caplog.records:
        message = record.getMessage()
        for digits in ("3125550166", "2125550177", "3125550167", "5550166", "5550177"):
            assert digits not in message, message


def test_no_personal_data_in_any_url(dial_in: Any, r: redis.Redis) -> None:
    caller = dial_in()
    caller.dials()
    urls = []
    for key in ("1", "1", "1", "1", "2", "2125550177"):
        urls.append(caller.gather.get("action"))
        caller.presses(key)
    assert all(url.startswith(PUBLIC_BASE_URL + "/twilio/ivr/") for url in urls)
    # Each names the call's lead by its opaque id, and holds nothing else of the caller's.
    lead_id = lead_of(r, caller).id
    assert all(url.endswith(f"?lead={lead_id}") for url in urls)
    paths = [url.removesuffix(f"?lead={lead_id}") for url in urls]
    assert not any(digit in path for path in paths for digit in "0123456789")


@pytest.mark.parametrize("step", list(TO_STEP))
@pytest.mark.parametrize("garbage", ["abc", "١", "1 2", "1" * 200, "<Say>", "%00", "*#*"])
def test_garbage_digits_never_break_the_call(
    dial_in: Any, r: redis.Redis, step: str, garbage: str
) -> None:
    caller = dial_in()
    caller.dials()
    caller.answers(*TO_STEP[step])
    caller.presses(garbage)  # parse_twiml: a 200 with TwiML, never a 500
    assert caller.step == step and not caller.hung_up  # a wrong key: asked again
    assert lead_of(r, caller).status == LeadStatus.INTAKE


def test_a_step_naming_another_calls_lead_changes_nothing_of_that_lead(
    dial_in: Any, r: redis.Redis
) -> None:
    """A step's URL names its call's lead; one naming another call's lead (which Twilio,
    following our own <Gather> action, never sends) is answered from the call's own state."""
    first, second = dial_in(), dial_in("+13125550188")
    first.dials()
    second.dials()
    second.answers("1")  # English: second's lead now at the situation step
    before = lead_of(r, second)
    other = urlparse(second.gather.get("action")).query  # lead=<second's lead>
    assert other == f"lead={before.id}"
    response = first.twilio.post(f"/twilio/ivr/language?{other}", first.params(Digits="2"))
    assert parse_twiml(response).find("Gather") is not None  # first is asked again
    assert lead_of(r, second) == before  # untouched
    assert lead_of(r, first).language == "en"  # Spanish was not taken as first's answer
