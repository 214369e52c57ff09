"""An inbound call's IVR session: its step, tries and answers in an expiring hash per
CallSid (``IVR_SESSION``); the caller's number is kept only in the lead hash.

A menu step is one round trip (:func:`step_session`): the caller's keys are decided on in
Python for each combination of the few facts of the state a decision depends on
(routing.ivr.decide), and one script reads the session, applies the decision that fits and
writes it. The transitions stay in the pure state machine; the script only picks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from redis import Redis

from routing import keys
from routing.ivr import MAX_TRIES, Decision, Finish, State, Step
from routing.leads import INSURANCE, LANGUAGES, LeadStatus
from routing.phones import number_digest
from routing.scripts import flat_pairs, run_script

#: Seconds an IVR session is kept after its last step (a call lasts minutes).
SESSION_TTL = 86400
#: Every waiting bucket, in the order ivr_step.lua is given them (KEYS[12..23]).
BUCKETS = tuple((lang, ins) for lang in LANGUAGES for ins in INSURANCE)
#: ivr_step.lua's KEYS index of each bucket, by "language insurance".
BUCKET_INDEX = {f"{lang} {ins}": 12 + i for i, (lang, ins) in enumerate(BUCKETS)}
#: The IVR state's fields kept in the session hash (the number stays in the lead hash).
SESSION_FIELDS = tuple(f.name for f in fields(State) if f.name != "phone")


def load_session(r: Redis, call_sid: str, lead_id: str) -> tuple[str, State] | None:
    """(lead id, IVR state) of a call linked to ``lead_id``, or None if there is no session
    (or it names another lead)."""
    # One round trip: the session and the number its lead holds (routing/lua/intake_load.lua).
    loaded = run_script(
        r, "intake_load", [keys.IVR_SESSION.format(call_sid), keys.LEAD.format(lead_id)], [lead_id]
    )
    if not loaded:
        return None
    flat, phone = loaded
    data = pairs_to_dict(flat)
    state = session_state(data, phone)
    return None if state is None else (data["lead_id"], state)


def session_state(data: dict[str, str], phone: str) -> State | None:
    """The IVR state a session hash holds (``phone``: its lead's number), or None if it was
    written by another version (the call starts again)."""
    try:
        return State(
            step=Step(data.get("step", Step.LANGUAGE.value)),
            language=data.get("language", "en"),
            tries=int(data.get("tries", 0)),
            situation=data.get("situation", "self"),
            urgent=data.get("urgent") == "1",
            insurance=data.get("insurance", "unknown"),
            phone=phone,
            pending=data.get("pending") == "1",
            place=int(data.get("place", 0)),
            outcome=data.get("outcome", ""),
        )
    except ValueError:
        return None


@dataclass(frozen=True)
class Stepped:
    """What :func:`step_session` found and did."""

    lead_id: str
    #: The state now (after the decision, or as it was for a stale request).
    state: State
    #: The condition whose decision was applied; None: the session was at another step (a
    #: repeated or late request), nothing was written.
    condition: str | None
    #: The lead hash after the step, when the IVR ended with a confirmed number.
    lead: dict[str, str] | None = None
    #: Its place in line when this step queued it (else 0) ...
    place: int = 0
    #: ... and then the wait estimate's inputs (routing.queue.wait_estimate).
    wait_inputs: list[int] | None = None
    #: Replicas that had the write when it was waited for (Sentinel), else None.
    replicas: int | None = None


def step_session(
    r: Redis,
    secret: str,
    call_sid: str,
    lead_id: str,
    step: str,
    decisions: Mapping[str, Decision],
    *,
    never_call_check: str = "",
    queueing: Queueing | None = None,
    wait_ms: int | None = None,
) -> Stepped | None:
    """Answer one IVR step in one round trip (routing/lua/ivr_step.lua): read the session,
    apply whichever of ``decisions`` fits the state it holds, write it, and when the caller
    has just confirmed their number queue the lead (``queueing``). ``decisions`` are keyed
    by :func:`condition`; ``never_call_check``: a keyed number the script looks for among
    the counselors' phones (the ``c`` of the condition); ``wait_ms``: wait that long for a
    replica to have the write, in the same round trip (Sentinel). None: no session, or one
    that names another lead than ``lead_id`` (the lead the step's URL names)."""
    # Most conditions share a decision (a menu's answer rarely depends on the last try):
    # each distinct one is sent once, the conditions point at it.
    distinct: list[Decision] = []
    by_condition: dict[str, int] = {}
    for cond, decision in decisions.items():
        if decision not in distinct:
            distinct.append(decision)
        by_condition[cond] = distinct.index(decision) + 1  # Lua counts from 1
    patches = [_patch(decision, secret) for decision in distinct]
    payload = {"patches": patches, "by": by_condition} if decisions else {}
    queue_args = queueing.args if queueing else {}
    script_keys = [
        keys.IVR_SESSION.format(call_sid),
        keys.COUNSELOR_PHONES,
        keys.WAITING_ALL,
        keys.DO_NOT_CALL,
        queueing.day_key if queueing else keys.WAITING_ALL,  # any key fills an unused slot
        keys.HANDLE_TIMES,
        keys.INTAKE,
        keys.COUNSELOR_STATES,
        keys.LEAD.format(lead_id),
        keys.LEAD_EVENTS.format(lead_id),
        keys.PENDING_LINKS,
        *(keys.WAITING.format(lang, ins) for lang, ins in BUCKETS),
    ]
    args = [
        lead_id,
        step,
        SESSION_TTL,
        LeadStatus.INTAKE.value,
        MAX_TRIES,
        never_call_check,
        json.dumps(payload, separators=(",", ":")) if payload else "",
        json.dumps(queue_args, separators=(",", ":")) if queue_args else "",
    ]
    replicas = None
    if wait_ms is None:
        stepped = run_script(r, "ivr_step", script_keys, args)
    else:
        with r.pipeline(transaction=False) as pipe:
            run_script(pipe, "ivr_step", script_keys, args)
            pipe.wait(1, wait_ms)
            stepped, replicas = pipe.execute()
    if not stepped:
        return None
    cond, flat, phone, lead, *queued = stepped
    data = pairs_to_dict(flat)
    state = session_state(data, phone)
    if state is None or "lead_id" not in data:
        return None
    place = int(queued[0]) if queued else 0
    return Stepped(
        data["lead_id"],
        state,
        None if cond == "stale" else cond,
        pairs_to_dict(lead) if lead else None,
        place,
        [int(v) for v in queued[1]] if place and len(queued) > 1 and queued[1] else None,
        replicas,
    )


@dataclass(frozen=True)
class Queueing:
    """What :func:`step_session` needs to queue a lead when its caller confirms their number:
    the day's counters key and the script's arguments (routing.intake builds both)."""

    day_key: str
    args: Mapping[str, Any]


def condition(*, last_try: bool, has_phone: bool, counselors: bool = False) -> str:
    """The key of a decision in :func:`step_session`'s table, as the script builds it."""
    return ("x" if last_try else "-") + ("p" if has_phone else "-") + ("c" if counselors else "-")


def _patch(decision: Decision, secret: str) -> dict[str, Any]:
    """A decision as the script applies it: the session fields to set, the answers to copy
    to the lead, whether it only counts a try, whether the IVR ends with a confirmed number
    (queue the lead, read it back)."""
    if decision.apology:
        return {"session": {}, "lead": {}, "count": True}
    if decision.finish is None and decision.step is None:
        return {"session": {}, "lead": {}}  # read the menu again: nothing changes
    session: dict[str, str] = {"tries": "0"}
    if decision.finish is not None:
        session |= {"step": Step.END.value, "outcome": decision.finish.value}
    else:
        session["step"] = decision.step.value  # type: ignore[union-attr]
    lead: dict[str, str] = {}
    for name, value in decision.answers.items():
        text = ("1" if value else "0") if isinstance(value, bool) else str(value)
        lead[name] = text
        if name == "phone":  # the number stays in the lead hash, its digest in the session
            session["digest"] = number_digest(text, secret) if text else ""
        else:
            session[name] = text
    if lead:
        lead["updated_at"] = str(time.time())
    return {
        "session": session,
        "lead": lead,
        "read": decision.finish is Finish.COMPLETE,
    }


def save_session(r: Redis, secret: str, call_sid: str, lead_id: str, state: State) -> None:
    """Store the IVR state; the answers also go to the lead while it is in intake. One round
    trip, the intake guard inside it (routing/lua/intake_save.lua)."""
    session = ["lead_id", lead_id, *session_pairs(state, secret)]
    run_script(
        r,
        "intake_save",
        [keys.IVR_SESSION.format(call_sid), keys.LEAD.format(lead_id)],
        [
            SESSION_TTL,
            LeadStatus.INTAKE.value,
            len(session) // 2,
            *session,
            *([] if state.pending else _answer_pairs(state)),
        ],
    )


def session_pairs(state: State, secret: str) -> list[str]:
    """The session hash's field/value pairs of a state: the number stays in the lead; the
    session holds its keyed digest (routing.phones.number_digest), which finds the caller's
    pending link and do-not-call entry when the number is confirmed."""
    pairs: list[str] = []
    for name in SESSION_FIELDS:  # not dataclasses.asdict: it deep-copies, on every step
        value = getattr(state, name)
        pairs += [name, ("1" if value else "0") if isinstance(value, bool) else str(value)]
    return [*pairs, "digest", number_digest(state.phone, secret) if state.phone else ""]


def _answer_pairs(state: State) -> list[str]:
    """The lead's field/value pairs for the answers given so far."""
    answers = {
        "language": state.language,
        "situation": state.situation,
        "urgent": "1" if state.urgent else "0",
        "insurance": state.insurance,
        "phone": state.phone,
        "updated_at": str(time.time()),
    }
    return flat_pairs(answers)


def pairs_to_dict(flat: list[str]) -> dict[str, str]:
    """A field, value, field, value ... list (HGETALL inside a script) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))
