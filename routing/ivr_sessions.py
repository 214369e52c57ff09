"""An inbound call's IVR session: its step, tries and answers in an expiring hash per
CallSid (``IVR_SESSION``), read and written in one round trip each; the caller's number is
kept only in the lead hash."""

from __future__ import annotations

import time
from dataclasses import fields

from redis import Redis

from routing import keys
from routing.ivr import State, Step
from routing.leads import LeadStatus
from routing.scripts import flat_pairs, run_script

#: Seconds an IVR session is kept after its last step (a call lasts minutes).
SESSION_TTL = 86400
#: The lead hash key without its id (for scripts that find a lead from an id they read).
LEAD_PREFIX = keys.LEAD.format("")
#: The IVR state's fields kept in the session hash (the number stays in the lead hash).
SESSION_FIELDS = tuple(f.name for f in fields(State) if f.name != "phone")


def load_session(r: Redis, call_sid: str) -> tuple[str, State] | None:
    """(lead id, IVR state) of a call, or None if there is no session."""
    # One round trip: the session and the number its lead holds (routing/lua/intake_load.lua).
    loaded = run_script(r, "intake_load", [keys.IVR_SESSION.format(call_sid)], [LEAD_PREFIX])
    if not loaded:
        return None
    flat, phone = loaded
    data = pairs_to_dict(flat)
    try:
        state = State(
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
    except ValueError:  # a session written by another version: start again
        return None
    return data["lead_id"], state


def save_session(
    r: Redis, call_sid: str, lead_id: str, state: State, *, read_lead: bool = False
) -> dict[str, str] | None:
    """Store the IVR state; the answers also go to the lead while it is in intake. One round
    trip, the intake guard inside it (routing/lua/intake_save.lua); with ``read_lead``, the
    lead hash as it is after it."""
    session = ["lead_id", lead_id, *session_pairs(state)]
    flat = run_script(
        r,
        "intake_save",
        [keys.IVR_SESSION.format(call_sid), keys.LEAD.format(lead_id)],
        [
            SESSION_TTL,
            LeadStatus.INTAKE.value,
            "1" if read_lead else "0",
            len(session) // 2,
            *session,
            *([] if state.pending else _answer_pairs(state)),
        ],
    )
    return pairs_to_dict(flat) if read_lead else None


def session_pairs(state: State) -> list[str]:
    """The session hash's field/value pairs of a state (the number stays in the lead)."""
    pairs: list[str] = []
    for name in SESSION_FIELDS:  # not dataclasses.asdict: it deep-copies, on every step
        value = getattr(state, name)
        pairs += [name, ("1" if value else "0") if isinstance(value, bool) else str(value)]
    return pairs


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
