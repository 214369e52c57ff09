"""Scripted people: how a phone behaves when it rings, and what its owner does on the call.

A :class:`Script` says whether the phone answers (a person, a voicemail, a fax), is busy,
rings out or fails, and what the person presses at each <Gather> in turn. ``HANG_UP`` at a
Gather hangs up there (a caller who leaves mid-menu, a counselor who declines).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

#: A Gather entry meaning "hang up here".
HANG_UP = "hangup"
#: What a phone can do when it rings: answered by a person or a machine (AMD's answers),
#: or one of Twilio's unanswered outcomes.
ANSWERS = ("human", "machine", "fax", "unknown")
OUTCOMES = (*ANSWERS, "busy", "no-answer", "failed")
#: Every AnsweredBy value answering-machine detection can report.
ANSWERED_BY = (
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
)


@dataclass(frozen=True)
class Script:
    """What one phone does on one call."""

    #: human | machine | fax | unknown (answered) or busy | no-answer | failed.
    answer: str = "human"
    #: Seconds of ringing before the phone is answered (call time, see Clock).
    ring_seconds: float = 3.0
    #: For each <Gather>, in order: digits to press, None to stay silent, or HANG_UP.
    #: When they run out the person stays silent.
    keys: tuple[str | None, ...] = ()
    #: Seconds the person stays on once connected to another party before hanging up.
    talk_seconds: float = 60.0
    #: Keys come from :meth:`Person.press` (the try-it page), not from ``keys``.
    interactive: bool = False
    #: Twilio's error code when the call fails (ErrorCode in callbacks, e.g. 13224).
    error_code: str = ""
    #: On a call that <Dial>s out: the person hangs up this many call seconds after the
    #: dialed phone starts ringing (while it rings, or while the two talk). None: never.
    hang_up_in_dial_after: float | None = None
    #: What answering-machine detection reports for this phone, when not the usual for
    #: ``answer`` (for example machine_end_silence: a mailbox that never beeps).
    answered_by: str = ""

    def __post_init__(self) -> None:
        if self.answer not in OUTCOMES:
            raise ValueError(f"answer must be one of {OUTCOMES}")
        if self.answered_by and self.answered_by not in ANSWERED_BY:
            raise ValueError(f"answered_by must be one of {ANSWERED_BY}")
        if self.hang_up_in_dial_after is not None and self.hang_up_in_dial_after < 0:
            raise ValueError("hang_up_in_dial_after must be 0 or more seconds")

    # --- The people the tests and the simulator use ------------------------------------

    @classmethod
    def answers(
        cls, *presses: str | None, talk_seconds: float = 60.0, ring_seconds: float = 3.0
    ) -> Script:
        """Picks up and presses ``presses`` at successive Gathers (a counselor: "1")."""
        return cls("human", ring_seconds, tuple(presses), talk_seconds)

    @classmethod
    def declines(cls, key: str | None = None) -> Script:
        """Picks up, hears the whisper and hangs up (or presses ``key``, not 1)."""
        return cls("human", keys=(key if key is not None else HANG_UP,))

    @classmethod
    def ignores_whisper(cls) -> Script:
        """Picks up and presses nothing: the whisper's Gather times out."""
        return cls("human", keys=(None, None, None, None))

    @classmethod
    def rings_out(cls) -> Script:
        """Nobody picks up."""
        return cls("no-answer")

    @classmethod
    def busy(cls) -> Script:
        """The line is busy."""
        return cls("busy")

    @classmethod
    def fails(cls, error_code: str = "") -> Script:
        """The call cannot be connected (carrier failure; ``error_code`` says why)."""
        return cls("failed", error_code=error_code)

    @classmethod
    def voicemail(cls, ring_seconds: float = 3.0) -> Script:
        """Voicemail picks up (answering-machine detection says machine)."""
        return cls("machine", ring_seconds)

    @classmethod
    def fax(cls) -> Script:
        """A fax machine answers."""
        return cls("fax")

    @classmethod
    def caller(cls, *presses: str | None, talk_seconds: float = 60.0) -> Script:
        """Someone who calls (or is called back) and presses ``presses`` at each menu."""
        return cls("human", 0.0, tuple(presses), talk_seconds)

    @classmethod
    def browser(cls) -> Script:
        """A person at the try-it page, pressing keys by hand."""
        return cls("human", 0.0, (), 3600.0, interactive=True)

    def hangs_up_in_dial_after(self, after: float) -> Script:
        """The same script, hanging up ``after`` seconds into a <Dial> it makes."""
        return replace(self, hang_up_in_dial_after=after)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (control API)."""
        return {
            "answer": self.answer,
            "ring_seconds": self.ring_seconds,
            "keys": list(self.keys),
            "talk_seconds": self.talk_seconds,
            "interactive": self.interactive,
            "error_code": self.error_code,
            "hang_up_in_dial_after": self.hang_up_in_dial_after,
            "answered_by": self.answered_by,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Script:
        """Build from the control API's JSON; raise ValueError on bad input."""
        keys = data.get("keys", [])
        if not isinstance(keys, list) or not all(k is None or isinstance(k, str) for k in keys):
            raise ValueError("keys must be a list of strings or nulls")
        hang_up = data.get("hang_up_in_dial_after")
        return cls(
            answer=str(data.get("answer", "human")),
            ring_seconds=float(data.get("ring_seconds", 3.0)),
            keys=tuple(keys),
            talk_seconds=float(data.get("talk_seconds", 60.0)),
            interactive=bool(data.get("interactive", False)),
            error_code=str(data.get("error_code") or ""),
            hang_up_in_dial_after=None if hang_up is None else float(hang_up),
            answered_by=str(data.get("answered_by") or ""),
        )


def completes(keys: str, num_digits: int, finish_on_key: str) -> bool:
    """Whether ``keys`` end a Gather: the finish key, or ``num_digits`` digits before it."""
    for count, key in enumerate(keys, start=1):
        if finish_on_key and key == finish_on_key:
            return True
        if num_digits and count >= num_digits:
            return True
    return False


class Person:
    """One person on one call, following a Script (or the keypad, when interactive).

    Keys pressed beyond what a Gather takes are buffered for the call's next Gather, as
    Twilio does (a caller who types ten digits and # where ten were asked for)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self._next = 0
        self._typed: queue.Queue[str] = queue.Queue()
        #: Keys pressed but not yet taken by a Gather.
        self._buffered = ""

    def buffer(self, keys: str) -> None:
        """Keep ``keys`` (left over by a Gather) for the next one."""
        self._buffered = keys + self._buffered

    def press(self, keys: str) -> None:
        """Keys typed on the try-it page's keypad."""
        self._typed.put(keys)

    def has_keys(self) -> bool:
        """Whether keys (or a hang-up) wait for a Gather: on the keypad they stop a prompt."""
        return bool(self._buffered) or not self._typed.empty()

    def hang_up(self) -> None:
        """The try-it page's red button."""
        self._typed.put(HANG_UP)

    def gather(
        self,
        real_timeout: float,
        wake: threading.Event,
        num_digits: int = 0,
        finish_on_key: str = "#",
    ) -> str | None:
        """What the person does at a Gather: digits, None (silence) or HANG_UP.

        On the keypad, keys come one at a time: like Twilio, the Gather ends when
        ``num_digits`` are in, on ``finish_on_key``, or ``real_timeout`` after the last key.
        Buffered keys come first; when they alone end the Gather the person had no time to
        press anything there, so a script's entry waits for the next one."""
        buffered, self._buffered = self._buffered, ""
        if buffered and completes(buffered, num_digits, finish_on_key):
            return buffered
        if not self.script.interactive:
            keys = self.script.keys
            entry = keys[self._next] if self._next < len(keys) else None
            self._next += 1
            if entry == HANG_UP or not buffered:
                return entry
            return buffered + (entry or "")
        typed = buffered
        while True:
            key = self._next_key(real_timeout, wake)
            if key is None:
                return typed or None
            if key == HANG_UP:
                return HANG_UP
            typed += key
            if (num_digits and len(typed) >= num_digits) or (
                finish_on_key and finish_on_key in key
            ):
                return typed

    def _next_key(self, real_timeout: float, wake: threading.Event) -> str | None:
        waited = 0.0
        while waited < real_timeout:
            if wake.is_set():
                return None
            try:
                return self._typed.get(timeout=0.1)
            except queue.Empty:
                waited += 0.1
        return None


@dataclass
class Phonebook:
    """Scripts by phone number; a list plays one script per call, the last one repeating."""

    #: An unscripted phone: a person picks up, presses 1 at the first menu, stays a minute.
    default: Script = field(default_factory=lambda: Script.answers("1", talk_seconds=60.0))
    _scripts: dict[str, list[Script]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __setitem__(self, number: str, script: Script | Sequence[Script]) -> None:
        with self._lock:
            self._scripts[number] = [script] if isinstance(script, Script) else list(script)

    def script_for(self, number: str) -> Script:
        """The script for the next call to or from ``number``."""
        with self._lock:
            scripts = self._scripts.get(number)
            if not scripts:
                return self.default
            return scripts.pop(0) if len(scripts) > 1 else scripts[0]
