"""The caller's IVR as a pure state machine: ``advance(state, digits) -> Turn``.

No Redis and no Flask here: a :class:`State` (where the caller is and what they answered)
and the digits they pressed go in; the next state, what to say and the next menu (or how
the call ends) come out. ``routing.intake`` stores states and acts on endings;
``webhooks`` turns turns into TwiML.

Steps, in order: language (after the emergency notice) -> situation -> urgency ->
insurance -> caller-id (confirm the caller ID) or enter-number -> confirm-number -> end.
A caller who already has a callback pending gets the pending menu (keep or cancel) instead.
Every menu allows ``MAX_TRIES`` tries; after that the safe default is taken, except for a
callback number, which cannot be guessed.

The number entry has no digit count: it ends on pound or after ``NUMBER_TIMEOUT`` seconds
without a key, so a caller who presses pound and one who does not are both heard. Had it
ended at the tenth digit, the pound the prompt asks for would be typed ahead into the
read-back menu (Twilio buffers keys); that menu ignores a leading pound for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from routing.phones import (
    InvalidNumber,
    last_four,
    national_digits,
    parse_number,
    reaches_a_person,
)
from routing.prompts import spoken_digits

#: Tries a caller gets at one menu (no input and wrong keys both count).
MAX_TRIES = 3
#: Seconds a menu waits for a key press.
MENU_TIMEOUT = 6
#: Seconds the number entry waits for a key, before the first and after each one: a caller
#: who does not press pound is heard after this pause.
NUMBER_TIMEOUT = 6
#: What a keyed callback number may be: 10 digits, or 11 with the US country code 1.
_KEYED_NUMBER = re.compile(r"1?[0-9]{10}")

INSURANCE_KEYS = {
    "1": "ppo",
    "2": "hmo",
    "3": "medicaid",
    "4": "medicare",
    "5": "none",
    "6": "unknown",
}


class Step(StrEnum):
    """An IVR step; its value is the last part of the step's webhook URL."""

    LANGUAGE = "language"
    SITUATION = "situation"
    URGENCY = "urgency"
    INSURANCE = "insurance"
    CALLER_ID = "caller-id"
    ENTER_NUMBER = "enter-number"
    CONFIRM_NUMBER = "confirm-number"
    PENDING = "pending"
    END = "end"


class Finish(StrEnum):
    """How a call leaves the IVR."""

    COMPLETE = "complete"  # queue the lead (the caller confirmed a number: consent)
    NO_NUMBER = "no-number"  # no valid number after MAX_TRIES: nothing to queue
    KEEP = "keep"  # a caller with a pending callback keeps it
    CANCEL = "cancel"  # a caller with a pending callback cancels it


@dataclass(frozen=True)
class State:
    """Where a caller is in the IVR and what they answered so far."""

    step: Step = Step.LANGUAGE
    language: str = "en"
    tries: int = 0  # failed tries at the current step
    situation: str = "self"
    urgent: bool = False
    insurance: str = "unknown"
    phone: str = ""  # the callback number (E.164) so far; empty when there is none
    pending: bool = False  # the caller already has a callback pending (keep/cancel menu)
    place: int = 0  # pending callers: place in line (0 when not waiting in line right now)
    outcome: str = ""  # a Finish value once the IVR has ended


@dataclass(frozen=True)
class Phrase:
    """One prompt to say: a key of routing.prompts, in ``language`` (None: the caller's)."""

    key: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    language: str | None = None


@dataclass(frozen=True)
class Menu:
    """A DTMF menu (Gather) whose answer is posted to ``step``."""

    step: Step
    #: Keys that end the menu by their count; None: only ``finish_on_key`` or the timeout.
    num_digits: int | None = 1
    #: The key that ends the menu (not part of the answer); empty: Twilio's default, "#".
    finish_on_key: str = ""
    timeout: int = MENU_TIMEOUT


@dataclass(frozen=True)
class Turn:
    """The IVR's answer to one request: say ``say``, then gather ``menu`` or end the call."""

    state: State
    say: tuple[Phrase, ...]
    menu: Menu | None = None
    finish: Finish | None = None
    #: Set by routing.intake when finishing this turn queued a lead (matching should run).
    queued: bool = False
    #: Set with ``queued`` when the step that queued the lead saw no counselor free in the
    #: same script: matching now could pair nobody, so it is not run (a counselor going
    #: free asks for it, and the sweep runs it).
    nobody_free: bool = False
    #: Set by routing.intake: the call's lead, named in the next step's URL (so the step's
    #: script is given the lead's keys).
    lead_id: str = ""


def start(phone: str = "") -> Turn:
    """The first turn of a call: the emergency notice and the language menu, in both."""
    state = State(phone=phone)
    say = (Phrase("welcome", language="en"), Phrase("welcome", language="es"))
    return Turn(state, say, _menu(state))


def restart(phone: str = "") -> Turn:
    """Start over, politely, for a request whose call we know nothing about."""
    first = start(phone)
    return replace(first, say=(Phrase("restart", language="en"), *first.say))


def start_pending(language: str, place: int) -> Turn:
    """The first turn for a caller with a callback pending: emergency notice, keep or cancel."""
    state = State(step=Step.PENDING, language=language, pending=True, place=place)
    return Turn(state, (Phrase("emergency"), *_menu_phrases(state)), _menu(state))


def replay(state: State) -> Turn:
    """The current step again, unchanged (a repeated or stale request)."""
    if state.step is Step.END:
        return Turn(state, (), finish=Finish(state.outcome))
    return Turn(state, _menu_phrases(state), _menu(state))


@dataclass(frozen=True)
class Decision:
    """What one answer does, decided from the step, the keys pressed and the few facts of
    the state that matter (see :func:`decide`): move on, apologise and ask again, end the
    IVR, or (nothing set) read the current menu again. :func:`apply` carries it out."""

    #: The step to move to (tries back to 0); None: stay at the current step.
    step: Step | None = None
    #: Answers to record (fields of :class:`State`).
    answers: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: Stay, count a try and say this prompt key before the menu again.
    apology: str = ""
    #: The IVR ends this way.
    finish: Finish | None = None


def advance(state: State, digits: str | None, *, never_call: frozenset[str] = frozenset()) -> Turn:
    """The caller's answer (``digits``; None or empty when the menu timed out) to the
    current step. ``never_call``: numbers a keyed callback number may not be (the
    hotline's own, its callbacks' caller ID, the counselors')."""
    if state.step is Step.END:
        return replay(state)
    decision = decide(
        state.step,
        digits,
        exhausted=state.tries + 1 >= MAX_TRIES,
        has_phone=bool(state.phone),
        never_call=never_call,
    )
    return render(apply(state, decision), decision)


def decide(
    step: Step,
    digits: str | None,
    *,
    exhausted: bool,
    has_phone: bool,
    never_call: frozenset[str] = frozenset(),
) -> Decision:
    """What ``digits`` do at ``step``. A decision depends on nothing else of the state
    than whether this is the step's last try (``exhausted``) and whether there is a
    callback number so far (``has_phone``), so it can be made before the state is read
    and applied where it is stored (routing.intake does so, in one Redis round trip)."""
    keys_ = (digits or "").strip()
    if step is Step.ENTER_NUMBER:  # the one step that needs to know more
        return _enter_number(keys_, exhausted, never_call)
    if step is Step.INSURANCE:
        # A withheld or invalid caller ID (no number) goes straight to keying one in.
        then = Step.CALLER_ID if has_phone else Step.ENTER_NUMBER
        options = {key: {"insurance": value} for key, value in INSURANCE_KEYS.items()}
        return _choose(keys_, options, {"insurance": "unknown"}, then, exhausted)
    if step in _CHOICES:
        options, default, then = _CHOICES[step]
        return _choose(keys_, options, default, then, exhausted)
    if step is Step.CALLER_ID:
        # Safe default: they called from this number and heard it read back.
        return _use_this_number(keys_, exhausted)
    if step is Step.CONFIRM_NUMBER:
        answer = keys_.lstrip("#")  # the number entry's pound, typed ahead: not an answer
        if keys_ and not answer:
            return Decision()  # read the number back again; no apology, no try counted
        # Safe default: the caller keyed this number in themselves.
        return _use_this_number(answer, exhausted)
    if step is Step.PENDING:
        if keys_ == "2":
            return Decision(finish=Finish.CANCEL)
        if keys_ == "1" or exhausted:
            return Decision(finish=Finish.KEEP)  # keeping their place is the safe default
        return _apology(keys_)
    return Decision()  # the end: nothing to answer


def apply(state: State, decision: Decision) -> State:
    """The state after ``decision``."""
    if decision.finish is not None:
        return replace(
            state, **decision.answers, step=Step.END, tries=0, outcome=decision.finish.value
        )
    if decision.step is not None:
        return replace(state, **decision.answers, step=decision.step, tries=0)
    if decision.apology:
        return replace(state, tries=state.tries + 1)
    return state


def render(state: State, decision: Decision) -> Turn:
    """What the caller hears after ``decision`` brought them to ``state``."""
    if decision.finish is not None:
        return Turn(state, (), finish=decision.finish)
    if state.step is Step.END:
        return replay(state)
    if not decision.apology:
        return Turn(state, _menu_phrases(state), _menu(state))
    if state.step is Step.LANGUAGE:  # the language is not known yet: apologise in both
        say: tuple[Phrase, ...] = (
            Phrase(decision.apology, language="en"),
            Phrase(decision.apology, language="es"),
        )
    else:
        say = (Phrase(decision.apology),)
    return Turn(state, say + _menu_phrases(state), _menu(state))


# --- steps -----------------------------------------------------------------------------


#: One-key menus that only record an answer: the answer for each key, the answer once the
#: tries run out, and the step after.
_CHOICES: dict[Step, tuple[dict[str, dict[str, Any]], dict[str, Any], Step]] = {
    Step.LANGUAGE: (
        {"1": {"language": "en"}, "2": {"language": "es"}},
        {"language": "en"},
        Step.SITUATION,
    ),
    Step.SITUATION: (
        {"1": {"situation": "self"}, "2": {"situation": "other"}},
        {"situation": "self"},
        Step.URGENCY,
    ),
    Step.URGENCY: (
        {"1": {"urgent": True}, "2": {"urgent": False}},
        {"urgent": False},
        Step.INSURANCE,
    ),
}


def _use_this_number(digits: str, exhausted: bool) -> Decision:
    """A number read back: 1 uses it, 2 asks for another; silence or a wrong key asks again,
    and once the tries run out the number is used (the safe default: it is theirs)."""
    if digits == "1" or (digits != "2" and exhausted):
        return Decision(finish=Finish.COMPLETE)
    if digits == "2":
        return Decision(step=Step.ENTER_NUMBER, answers={"phone": ""})
    return _apology(digits)


def _enter_number(digits: str, exhausted: bool, never_call: frozenset[str]) -> Decision:
    keyed = digits.strip("#*")  # a pound or star around the number is not part of it
    phone = _keyed_number(keyed)
    if phone is None:
        refusal = "no_input" if not keyed else "invalid_number"
    elif phone in never_call:  # first: the hotline's own toll-free number is ours
        refusal = "number_is_ours"
    elif not reaches_a_person(phone):
        refusal = "number_not_personal"
    else:
        return Decision(step=Step.CONFIRM_NUMBER, answers={"phone": phone})
    if exhausted:
        return Decision(finish=Finish.NO_NUMBER, answers={"phone": ""})
    return Decision(apology=refusal)


def _keyed_number(digits: str) -> str | None:
    """The E.164 form of keyed digits (10, or 11 starting with 1), or None unless they make
    a valid number."""
    if not _KEYED_NUMBER.fullmatch(digits):  # "*" in the middle is never part of a number
        return None
    try:
        return parse_number(digits)
    except InvalidNumber:
        return None


# --- helpers ---------------------------------------------------------------------------


def _choose(
    digits: str,
    options: Mapping[str, Mapping[str, Any]],
    default: Mapping[str, Any],
    then: Step,
    exhausted: bool,
) -> Decision:
    """A one-key menu: a listed key moves on with its answer; otherwise retry, and after
    MAX_TRIES move on with the default answer."""
    if digits in options:
        return Decision(step=then, answers=options[digits])
    if exhausted:
        return Decision(step=then, answers=default)
    return _apology(digits)


def _apology(digits: str) -> Decision:
    return Decision(apology="no_input" if not digits else "wrong_key")


def _menu(state: State) -> Menu:
    if state.step is Step.ENTER_NUMBER:
        return Menu(state.step, num_digits=None, finish_on_key="#", timeout=NUMBER_TIMEOUT)
    if state.step is Step.CONFIRM_NUMBER:
        # Star ends it, so a pound typed ahead arrives as Digits "#" (re-read, not counted)
        # instead of ending the menu empty, which looks like silence and counts a try.
        return Menu(state.step, finish_on_key="*")
    return Menu(state.step)


def _menu_phrases(state: State) -> tuple[Phrase, ...]:
    """What the current step's menu says."""
    step = state.step
    if step is Step.LANGUAGE:
        if state.tries == 0:
            return (Phrase("welcome", language="en"), Phrase("welcome", language="es"))
        return (Phrase("language_menu", language="en"), Phrase("language_menu", language="es"))
    if step is Step.SITUATION:
        return (Phrase("situation_menu"),)
    if step is Step.URGENCY:
        return (Phrase(f"urgency_menu_{state.situation}"),)
    if step is Step.INSURANCE:
        return (Phrase("insurance_menu"),)
    if step is Step.CALLER_ID:
        return (Phrase("caller_id_menu", {"last_four": spoken_digits(last_four(state.phone))}),)
    if step is Step.ENTER_NUMBER:
        return (Phrase("enter_number"),)
    if step is Step.CONFIRM_NUMBER:
        digits = spoken_digits(national_digits(state.phone))
        return (Phrase("confirm_number_menu", {"digits": digits}),)
    if step is Step.PENDING:
        if state.place:
            return (Phrase("pending_menu", {"place": state.place}),)
        return (Phrase("pending_menu_no_place"),)
    return ()
