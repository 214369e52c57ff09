"""A keyed callback number must reach the caller: a landline or a mobile, never a premium,
toll-free or forwarding number, never the hotline's own or a counselor's; the IVR says why,
in the caller's language."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from routing import counselors as cs
from routing import prompts
from routing.ivr import MAX_TRIES, Finish, State, Step, Turn, advance
from routing.phones import reaches_a_person
from tests.test_ivr_webhooks import LANGUAGE_KEY, lead_of

COUNSELOR = "+12125550190"


def keys_of(turn: Turn) -> list[str]:
    """The prompt keys a turn says."""
    return [p.key for p in turn.say]


@pytest.mark.parametrize(
    ("number", "person"),
    [
        ("+12125550147", True),  # New York, fixed line or mobile
        ("+14165550123", True),  # Toronto (NANP)
        ("+19002345678", False),  # premium rate
        ("+18004927848", False),  # toll-free
        ("+18885551234", False),  # toll-free
        ("+15002345678", False),  # personal number (a forwarding service)
        ("+15332345678", False),
    ],
)
def test_only_landlines_and_mobiles_reach_a_person(number: str, person: bool) -> None:
    assert reaches_a_person(number) is person


@pytest.mark.parametrize("keyed", ["9002345678", "19005550199", "8885551234", "5002345678"])
def test_a_number_nobody_answers_is_refused_with_the_reason(keyed: str) -> None:
    turn = advance(State(step=Step.ENTER_NUMBER), keyed + "#")
    assert turn.state.step is Step.ENTER_NUMBER and turn.state.tries == 1
    assert turn.state.phone == ""
    assert keys_of(turn) == ["number_not_personal", "enter_number"]


@pytest.mark.parametrize("keyed", ["2125550190", "12125550190"])
def test_a_number_of_ours_is_refused_with_the_reason(keyed: str) -> None:
    turn = advance(State(step=Step.ENTER_NUMBER), keyed, never_call=frozenset({COUNSELOR}))
    assert turn.state.step is Step.ENTER_NUMBER and turn.state.tries == 1
    assert keys_of(turn) == ["number_is_ours", "enter_number"]


def test_refused_numbers_count_as_tries_and_end_without_a_number() -> None:
    state = State(step=Step.ENTER_NUMBER)
    for _ in range(MAX_TRIES):
        turn = advance(state, "9002345678")
        state = turn.state
    assert turn.finish is Finish.NO_NUMBER and state.phone == ""


@pytest.mark.parametrize("key", ["number_not_personal", "number_is_ours"])
def test_the_reasons_are_said_in_both_languages(key: str) -> None:
    assert prompts.PROMPTS[key]["en"] and prompts.PROMPTS[key]["es"]


# --- Through the webhooks, with the real settings and Redis -------------------------------


def keying(dial_in: Any, language: str) -> Any:
    """A caller without caller ID at the number entry, in ``language``."""
    caller = dial_in(None)
    caller.dials()
    caller.answers(LANGUAGE_KEY[language], "1", "2", "4")
    assert caller.step == "enter-number"
    return caller


@pytest.mark.parametrize(
    ("language", "heard"),
    [("en", "belongs to this helpline"), ("es", "es de esta línea de ayuda")],
)
def test_the_hotlines_own_and_a_counselors_number_are_refused(
    dial_in: Any, r: redis.Redis, settings: Any, language: str, heard: str
) -> None:
    cs.create_counselor(r, "Dana", COUNSELOR, ["en"])
    caller = keying(dial_in, language)
    caller.presses("8004927848")  # the hotline's own number (HOTLINE_NUMBER)
    assert caller.step == "enter-number"
    assert heard in caller.said
    caller.presses("2125550190")  # Dana's phone
    assert caller.step == "enter-number"
    assert heard in caller.said
    caller.answers("2125550123", "1")  # the caller's own number is taken
    assert lead_of(r, caller).phone == "+12125550123"


@pytest.mark.parametrize(
    ("language", "heard"),
    [("en", "cannot call that kind of number"), ("es", "no podemos devolver la llamada")],
)
def test_a_premium_rate_number_is_refused(dial_in: Any, language: str, heard: str) -> None:
    caller = keying(dial_in, language)
    caller.presses("9002345678")
    assert caller.step == "enter-number"
    assert heard in caller.said


def test_a_retired_counselors_number_may_be_a_callers(dial_in: Any, r: redis.Redis) -> None:
    dana = cs.create_counselor(r, "Dana", COUNSELOR, ["en"])
    assert cs.retire_counselor(r, dana)
    caller = keying(dial_in, "en")
    caller.presses("2125550190")
    assert caller.step == "confirm-number"


# --- A caller ID of ours is never offered as the callback number ---------------------------


@pytest.mark.parametrize("caller_id", [COUNSELOR, "+18004927848"])
def test_a_call_from_a_counselors_phone_or_our_own_line_is_asked_for_a_number(
    dial_in: Any, r: redis.Redis, caller_id: str
) -> None:
    """Calling from a counselor's phone (or the hotline's own line, e.g. a transfer), the
    caller is not offered that number: they key one in, as with a withheld caller ID."""
    cs.create_counselor(r, "Dana", COUNSELOR, ["en"])
    caller = dial_in(caller_id)
    caller.dials()
    caller.answers("1", "1", "2", "4")
    assert caller.step == "enter-number"
    assert lead_of(r, caller).phone == ""
    caller.answers("2125550123", "1")
    lead = lead_of(r, caller)
    assert (lead.phone, lead.status) == ("+12125550123", "waiting")


def test_a_call_from_another_number_is_offered_its_caller_id(dial_in: Any, r: redis.Redis) -> None:
    cs.create_counselor(r, "Dana", COUNSELOR, ["en"])
    caller = dial_in("+12125550147")
    caller.dials()
    caller.answers("1", "1", "2", "4")
    assert caller.step == "caller-id"
