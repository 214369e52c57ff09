"""The IVR state machine (routing.ivr) and its prompts (routing.prompts): pure, no Redis."""

from __future__ import annotations

import string

import pytest

from routing import prompts
from routing.ivr import (
    MAX_TRIES,
    NUMBER_TIMEOUT,
    Finish,
    State,
    Step,
    Turn,
    advance,
    replay,
    restart,
    start,
    start_pending,
)

CALLER_ID = "+12125550147"


def keys_of(turn: Turn) -> list[str]:
    """The prompt keys a turn says, in order."""
    return [phrase.key for phrase in turn.say]


# --- prompts ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(prompts.PROMPTS))
@pytest.mark.parametrize("language", ["en", "es"])
def test_every_prompt_exists_in_both_languages(key: str, language: str) -> None:
    params = {"last_four": "0 1 4 7", "digits": "2 1 2", "place": 3, "wait": "x", "hotline": "8"}
    params |= {"seconds": 60, "outcome": "busy", "urgent": "", "who": "x", "tongue": "x"}
    params |= {"insurance": "x", "minutes": 3}
    # The callback legs' prompts (whisper, counselor notices).
    params |= {"seconds": 60, "outcome": "busy", "urgent": "", "who": "x", "tongue": "x"}
    params |= {"insurance": "x", "minutes": 4}
    said = prompts.text(key, language, **params)
    assert said.strip()
    assert "{" not in said  # every placeholder filled
    if language == "es" and key not in {"language_menu"}:
        assert said != prompts.text(key, "en", **params)


@pytest.mark.parametrize("key", ["welcome", "emergency", "no_number", "apology"])
@pytest.mark.parametrize("language", ["en", "es"])
def test_emergency_numbers_are_given(key: str, language: str) -> None:
    said = prompts.text(key, language, hotline="8 0 0")
    assert "9 1 1" in said and "9 8 8" in said


@pytest.mark.parametrize(
    ("language", "voice", "locale"),
    [
        ("en", "Polly.Joanna", "en-US"),
        ("es", "Polly.Lupe", "es-US"),
        ("xx", "Polly.Joanna", "en-US"),
    ],
)
def test_voice_per_language(language: str, voice: str, locale: str) -> None:
    assert prompts.voice(language) == (voice, locale)


@pytest.mark.parametrize(
    ("digits", "spoken"),
    [("2125550147", "2 1 2, 5 5 5, 0 1 4 7"), ("0147", "0 1 4 7"), ("(212) 555", "2 1 2 5 5 5")],
)
def test_spoken_digits(digits: str, spoken: str) -> None:
    assert prompts.spoken_digits(digits) == spoken


@pytest.mark.parametrize(
    ("seconds", "language", "spoken"),
    [
        (30, "en", "1 minute"),
        (60, "en", "1 minute"),
        (61, "en", "2 minutes"),
        (600, "en", "10 minutes"),
        (601, "en", "15 minutes"),  # rounded up: never promise sooner than estimated
        (3600, "es", "60 minutos"),
        (7200, "en", "2 hours"),
        (7201, "es", "3 horas"),
    ],
)
def test_spoken_wait_is_rounded_up(seconds: int, language: str, spoken: str) -> None:
    assert prompts.spoken_wait(seconds, language) == spoken


# --- the first turn ----------------------------------------------------------------------


def test_start_gives_the_emergency_notice_in_both_languages_first() -> None:
    turn = start(CALLER_ID)
    assert [(p.key, p.language) for p in turn.say] == [("welcome", "en"), ("welcome", "es")]
    assert turn.menu is not None and turn.menu.step is Step.LANGUAGE
    assert turn.state.phone == CALLER_ID


def test_restart_apologises_then_starts_over() -> None:
    turn = restart(CALLER_ID)
    assert keys_of(turn) == ["restart", "welcome", "welcome"]
    assert turn.state.step is Step.LANGUAGE


@pytest.mark.parametrize(("place", "menu"), [(4, "pending_menu"), (0, "pending_menu_no_place")])
def test_pending_caller_hears_the_emergency_notice_then_keep_or_cancel(
    place: int, menu: str
) -> None:
    turn = start_pending("es", place)
    assert keys_of(turn) == ["emergency", menu]
    assert turn.state.language == "es" and turn.state.pending
    assert turn.menu is not None and turn.menu.step is Step.PENDING


# --- menus -------------------------------------------------------------------------------

MENUS = [
    # (step, key, field, value, next step)
    (Step.LANGUAGE, "1", "language", "en", Step.SITUATION),
    (Step.LANGUAGE, "2", "language", "es", Step.SITUATION),
    (Step.SITUATION, "1", "situation", "self", Step.URGENCY),
    (Step.SITUATION, "2", "situation", "other", Step.URGENCY),
    (Step.URGENCY, "1", "urgent", True, Step.INSURANCE),
    (Step.URGENCY, "2", "urgent", False, Step.INSURANCE),
    (Step.INSURANCE, "1", "insurance", "ppo", Step.CALLER_ID),
    (Step.INSURANCE, "2", "insurance", "hmo", Step.CALLER_ID),
    (Step.INSURANCE, "3", "insurance", "medicaid", Step.CALLER_ID),
    (Step.INSURANCE, "4", "insurance", "medicare", Step.CALLER_ID),
    (Step.INSURANCE, "5", "insurance", "none", Step.CALLER_ID),
    (Step.INSURANCE, "6", "insurance", "unknown", Step.CALLER_ID),
]

DEFAULTS = [
    (Step.LANGUAGE, "language", "en", Step.SITUATION),
    (Step.SITUATION, "situation", "self", Step.URGENCY),
    (Step.URGENCY, "urgent", False, Step.INSURANCE),
    (Step.INSURANCE, "insurance", "unknown", Step.CALLER_ID),
]


@pytest.mark.parametrize(("step", "key", "field", "value", "then"), MENUS)
@pytest.mark.parametrize("language", ["en", "es"])
def test_menu_answers(
    step: Step, key: str, field: str, value: object, then: Step, language: str
) -> None:
    state = State(step=step, language=language, phone=CALLER_ID, insurance="ppo", urgent=True)
    before = state
    turn = advance(state, key)
    assert getattr(turn.state, field) == value
    assert turn.state.step is then and turn.state.tries == 0
    assert turn.menu is not None and turn.menu.step is then
    assert turn.finish is None
    assert before == state  # states are values; nothing was changed in place


@pytest.mark.parametrize(("step", "field", "default", "then"), DEFAULTS)
@pytest.mark.parametrize("bad", [None, "", "9", "0", "*", "#", "12"])
def test_bad_input_reprompts_then_takes_the_safe_default(
    step: Step, field: str, default: object, then: Step, bad: str | None
) -> None:
    # Start from answers other than the defaults, so taking the default is visible.
    state = State(
        step=step, phone=CALLER_ID, language="es", situation="other", urgent=True, insurance="ppo"
    )
    for attempt in range(1, MAX_TRIES):
        turn = advance(state, bad)
        assert turn.state.step is step and turn.state.tries == attempt
        assert turn.menu is not None and turn.menu.step is step
        reason = "no_input" if not bad else "wrong_key"
        assert keys_of(turn)[0] == reason
        assert len(turn.say) > 1  # the menu again after the apology
        state = turn.state
    turn = advance(state, bad)
    assert turn.state.step is then
    assert getattr(turn.state, field) == default
    assert turn.finish is None


def test_language_reprompt_is_in_both_languages_without_repeating_the_whole_notice() -> None:
    turn = advance(start(CALLER_ID).state, "7")
    assert [(p.key, p.language) for p in turn.say] == [
        ("wrong_key", "en"),
        ("wrong_key", "es"),
        ("language_menu", "en"),
        ("language_menu", "es"),
    ]


@pytest.mark.parametrize(
    ("situation", "prompt"), [("self", "urgency_menu_self"), ("other", "urgency_menu_other")]
)
def test_urgency_question_fits_who_is_calling(situation: str, prompt: str) -> None:
    state = State(step=Step.SITUATION)
    turn = advance(state, "1" if situation == "self" else "2")
    assert keys_of(turn) == [prompt]


def test_withheld_caller_id_goes_straight_to_keying_a_number() -> None:
    turn = advance(State(step=Step.INSURANCE, phone=""), "3")
    assert turn.state.step is Step.ENTER_NUMBER
    assert turn.menu is not None
    assert (turn.menu.num_digits, turn.menu.finish_on_key) == (None, "#")


def test_number_entry_ends_on_pound_or_a_pause_never_on_a_digit_count() -> None:
    # With a digit count the Gather would end at the tenth digit and the pound the prompt
    # asks for would land in the next menu.
    menu = replay(State(step=Step.ENTER_NUMBER)).menu
    assert menu is not None
    assert menu.num_digits is None and menu.finish_on_key == "#"
    assert 5 <= menu.timeout == NUMBER_TIMEOUT <= 6


# --- callback number ------------------------------------------------------------------


def test_caller_id_is_read_back_by_its_last_four_digits() -> None:
    turn = advance(State(step=Step.INSURANCE, phone=CALLER_ID), "1")
    assert turn.state.step is Step.CALLER_ID
    (phrase,) = turn.say
    assert phrase.key == "caller_id_menu" and phrase.params["last_four"] == "0 1 4 7"


def test_confirming_the_caller_id_completes() -> None:
    turn = advance(State(step=Step.CALLER_ID, phone=CALLER_ID), "1")
    assert turn.finish is Finish.COMPLETE and turn.menu is None
    assert turn.state.step is Step.END and turn.state.phone == CALLER_ID


def test_a_different_number_drops_the_caller_id() -> None:
    turn = advance(State(step=Step.CALLER_ID, phone=CALLER_ID), "2")
    assert turn.state.step is Step.ENTER_NUMBER and turn.state.phone == ""


@pytest.mark.parametrize("bad", [None, "5"])
def test_caller_id_defaults_to_confirmed_after_three_tries(bad: str | None) -> None:
    state = State(step=Step.CALLER_ID, phone=CALLER_ID)
    for _ in range(MAX_TRIES - 1):
        turn = advance(state, bad)
        assert turn.finish is None and turn.state.step is Step.CALLER_ID
        state = turn.state
    turn = advance(state, bad)
    assert turn.finish is Finish.COMPLETE and turn.state.phone == CALLER_ID


@pytest.mark.parametrize(
    ("keyed", "e164"),
    [
        ("2125550100", "+12125550100"),
        ("3125550100", "+13125550100"),
        ("12125550100", "+12125550100"),
        ("2125550100#", "+12125550100"),
        ("12125550100#", "+12125550100"),
        ("#2125550100", "+12125550100"),
        ("*2125550100*", "+12125550100"),
        ("2125550100##", "+12125550100"),
    ],
)
def test_keyed_number_is_read_back_digit_by_digit(keyed: str, e164: str) -> None:
    turn = advance(State(step=Step.ENTER_NUMBER, language="es"), keyed)
    assert turn.state.step is Step.CONFIRM_NUMBER and turn.state.phone == e164
    (phrase,) = turn.say
    assert phrase.key == "confirm_number_menu"
    assert phrase.params["digits"] == prompts.spoken_digits(e164[-10:])


@pytest.mark.parametrize(
    "bad",
    [
        "1234567890",
        "0005550100",
        "555",
        "21255501",
        "212*555010",
        "22125550100",  # 11 digits not starting with the country code 1
        "112125550100",  # 12 digits
        "121255501000",
        "+12125550100",
        "١٢١٢٥٥٥٠١٠٠",  # digits, but not keypad digits
    ],
)
def test_invalid_number_is_explained_and_asked_again(bad: str) -> None:
    turn = advance(State(step=Step.ENTER_NUMBER), bad)
    assert turn.state.step is Step.ENTER_NUMBER and turn.state.tries == 1
    assert keys_of(turn) == ["invalid_number", "enter_number"]


@pytest.mark.parametrize("nothing", [None, "", "#", "*", "#*"])
def test_no_number_keyed_is_no_input(nothing: str | None) -> None:
    turn = advance(State(step=Step.ENTER_NUMBER), nothing)
    assert turn.state.step is Step.ENTER_NUMBER and turn.state.tries == 1
    assert keys_of(turn) == ["no_input", "enter_number"]


def test_no_valid_number_after_three_tries_ends_without_a_number() -> None:
    state = State(step=Step.ENTER_NUMBER, language="es")
    for bad in ["1", "12345"]:
        state = advance(state, bad).state
    turn = advance(state, None)
    assert turn.finish is Finish.NO_NUMBER and turn.menu is None
    assert turn.state.phone == ""


def test_confirming_a_keyed_number_completes_and_two_asks_again() -> None:
    state = State(step=Step.CONFIRM_NUMBER, phone="+12125550100")
    assert advance(state, "1").finish is Finish.COMPLETE
    again = advance(state, "2")
    assert again.state.step is Step.ENTER_NUMBER and again.state.phone == ""
    assert again.state.tries == 0


@pytest.mark.parametrize(
    ("keys", "finish"), [(["#1"], Finish.COMPLETE), (["#", "1"], Finish.COMPLETE)]
)
def test_a_pound_typed_ahead_is_not_an_answer_to_the_read_back(
    keys: list[str], finish: Finish
) -> None:
    state = State(step=Step.CONFIRM_NUMBER, phone="+12125550100")
    for key in keys:
        turn = advance(state, key)
        state = turn.state
    assert turn.finish is finish and turn.state.phone == "+12125550100"


def test_a_lone_pound_at_the_read_back_reads_it_again_without_counting_a_try() -> None:
    state = State(step=Step.CONFIRM_NUMBER, phone="+12125550100", tries=MAX_TRIES - 1)
    for _ in range(MAX_TRIES + 1):
        turn = advance(state, "#")
        assert turn.finish is None and turn.state == state  # never the default, never a try
        assert keys_of(turn) == ["confirm_number_menu"]  # no "wrong key" apology
    assert advance(state, "#2").state.step is Step.ENTER_NUMBER


def test_the_read_back_takes_pound_as_a_key_so_a_typed_ahead_one_arrives() -> None:
    # Had "#" ended this menu, Twilio would post no Digits: silence, a try counted.
    menu = replay(State(step=Step.CONFIRM_NUMBER, phone="+12125550100")).menu
    assert menu is not None and menu.num_digits == 1
    assert menu.finish_on_key and "#" not in menu.finish_on_key


def test_keyed_number_defaults_to_confirmed_after_three_tries() -> None:
    state = State(step=Step.CONFIRM_NUMBER, phone="+12125550100")
    for _ in range(MAX_TRIES - 1):
        state = advance(state, "8").state
    assert advance(state, "8").finish is Finish.COMPLETE


# --- pending callers and the end ---------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "finish"),
    [
        (["1"], Finish.KEEP),
        (["2"], Finish.CANCEL),
        ([None, "9", None], Finish.KEEP),
        (["7", "2"], Finish.CANCEL),
    ],
)
def test_pending_menu(keys: list[str | None], finish: Finish) -> None:
    turn = start_pending("en", 2)
    for key in keys:
        turn = advance(turn.state, key)
    assert turn.finish is finish and turn.menu is None


def test_after_the_end_the_same_ending_is_replayed() -> None:
    ended = advance(State(step=Step.CALLER_ID, phone=CALLER_ID), "1").state
    for digits in (None, "2"):
        turn = advance(ended, digits)
        assert turn.finish is Finish.COMPLETE and turn.state == ended
    assert replay(ended).finish is Finish.COMPLETE


@pytest.mark.parametrize("step", [s for s in Step if s is not Step.END])
def test_replay_repeats_the_menu_without_counting_a_try(step: Step) -> None:
    state = State(step=step, phone=CALLER_ID, tries=1, place=3)
    turn = replay(state)
    assert turn.state == state
    assert turn.menu is not None and turn.menu.step is step
    assert turn.say and not set(keys_of(turn)) & {"no_input", "wrong_key"}


def test_menus_take_one_key_except_the_number() -> None:
    # A menu never asks for more than one key, except the callback number.
    for step in Step:
        if step is Step.END:
            continue
        menu = replay(State(step=step, phone=CALLER_ID)).menu
        assert menu is not None
        assert menu.num_digits == (None if step is Step.ENTER_NUMBER else 1)
        assert set(menu.finish_on_key) <= set(string.digits + "#*")
