"""A reservation: one lead offered to one counselor, and how far its callback call got.

The record and its states live here; the moves between them (which webhook or sweep moves
what, and what happens to the lead and the counselor) are in :mod:`routing.callbacks`.

States, in the order a callback that works goes through them::

    offered -> counselor_ringing -> whisper -> caller_dialing -> screening -> bridged
            -> connected

and the ends: missed (the counselor did not take it), caller_unreached, deferred (outside
calling hours), failed (a permanent error), reclaimed (released for nobody's fault).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis import Redis

from routing import keys
from routing.scripts import flat_pairs, run_script


class ReservationState(StrEnum):
    """Where a callback call is."""

    OFFERED = "offered"  # matched; the dial job has not rung the counselor yet
    COUNSELOR_RINGING = "counselor_ringing"
    WHISPER = "whisper"  # the counselor answered and hears the lead in a few words
    CALLER_DIALING = "caller_dialing"  # the counselor pressed 1; the caller's phone rings
    SCREENING = "screening"  # the caller's phone answered; a person or a machine?
    BRIDGED = "bridged"  # a person: the two legs are joined (or about to be)
    CONNECTED = "connected"  # the bridged call is over; the counselor wraps up
    MISSED = "missed"
    CALLER_UNREACHED = "caller_unreached"
    DEFERRED = "deferred"
    FAILED = "failed"
    RECLAIMED = "reclaimed"


S = ReservationState
#: States in which the counselor has not taken the callback yet.
BEFORE_ACCEPT = (S.OFFERED, S.COUNSELOR_RINGING, S.WHISPER)
#: States in which the caller's leg exists (dialed, answered or bridged).
CALLER_LEG = (S.CALLER_DIALING, S.SCREENING, S.BRIDGED)
#: States a reservation is alive in (holding its lead and counselor).
ACTIVE = (*BEFORE_ACCEPT, *CALLER_LEG)


@dataclass
class Reservation:
    """A callback being placed: which lead, which counselor, and how far it got."""

    id: str
    lead_id: str
    counselor_id: str
    state: str
    score: float
    created_at: float
    updated_at: float = 0.0
    counselor_call_sid: str = ""
    caller_call_sid: str = ""
    answered_by: str = ""
    whisper_tries: int = 0
    bridged_at: float = 0.0
    checks: int = 0
    outcome: str = ""

    @classmethod
    def from_redis(cls, data: dict[str, str]) -> Reservation:
        """Rebuild from HGETALL (decoded)."""
        return cls(
            id=data["id"],
            lead_id=data["lead_id"],
            counselor_id=data["counselor_id"],
            state=data["state"],
            score=float(data.get("score") or 0),
            created_at=float(data.get("created_at") or 0),
            updated_at=float(data.get("updated_at") or 0),
            counselor_call_sid=data.get("counselor_call_sid", ""),
            caller_call_sid=data.get("caller_call_sid", ""),
            answered_by=data.get("answered_by", ""),
            whisper_tries=int(data.get("whisper_tries") or 0),
            bridged_at=float(data.get("bridged_at") or 0),
            checks=int(data.get("checks") or 0),
            outcome=data.get("outcome", ""),
        )

    @property
    def active(self) -> bool:
        """Whether it still holds its lead and counselor."""
        return self.state in ACTIVE


def get_reservation(r: Redis, reservation_id: str) -> Reservation | None:
    """Load a reservation, or None (unknown id)."""
    data = r.hgetall(keys.RESERVATION.format(reservation_id))
    if not data or "lead_id" not in data:
        return None
    return Reservation.from_redis(data)  # type: ignore[arg-type]


#: Keep the lease as it is (see :func:`advance`).
KEEP = "-"


def advance(
    r: Redis,
    reservation_id: str,
    allowed: tuple[str, ...],
    state: str,
    lease: float | None | str = KEEP,
    now: float | None = None,
    **fields: Any,
) -> bool:
    """Compare-and-set a live reservation from one of ``allowed`` to ``state`` (the moves
    that end nothing); False if it was elsewhere. ``lease``: KEEP, None drop, or the expiry."""
    now = time.time() if now is None else now
    lease_arg = "" if lease is None else (lease if isinstance(lease, str) else repr(lease))
    args: list[Any] = [" ".join(allowed), state, repr(now), lease_arg, *flat_pairs(fields)]
    prev = run_script(
        r, "reservation_state", [keys.RESERVATION.format(reservation_id), keys.LEASES], args
    )
    return bool(prev)


def set_fields(r: Redis, reservation_id: str, **fields: str) -> None:
    """Note facts on a reservation that exists (a CallSid, an AMD answer)."""
    key = keys.RESERVATION.format(reservation_id)
    pipe = r.pipeline(transaction=True)
    pipe.exists(key)
    pipe.hset(key, mapping=fields)
    exists, _ = pipe.execute()
    if not exists:  # never leave a stray hash behind for an unknown id
        r.delete(key)


def first_news(r: Redis, reservation_id: str, leg: str, sequence: str | None) -> bool:
    """Whether a status callback is new: False if its SequenceNumber was already seen."""
    if sequence is None or not sequence.isascii() or not sequence.isdigit():
        return True  # nothing to order by: the state machine alone guards it
    return bool(
        run_script(r, "seen", [keys.RESERVATION.format(reservation_id)], [f"seq_{leg}", sequence])
    )


def expired_leases(r: Redis, now: float, limit: int = 500) -> list[str]:
    """Reservations whose lease has run out (no news in time)."""
    return list(r.zrangebyscore(keys.LEASES, "-inf", now, start=0, num=limit))
