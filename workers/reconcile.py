"""Reconciliation: ask Twilio's REST API where a call really is when the webhook that should
have told us never came, and apply the same move that webhook would have.

Twilio does not re-send a status callback that was lost or that we failed to answer, so
nothing in Hotline may depend on one arriving. The sweep calls this module for reservations
whose lease ran out (no news in time) and for callers still "in the IVR" long after their
call began. Each look-up is one REST request; a sweep makes at most
:data:`LOOKUPS_PER_SWEEP` of them, the rest wait for the next sweep.
"""

from __future__ import annotations

import logging

from routing import account, callbacks, intake
from routing.counselors import get_counselor
from routing.reservation import Reservation
from routing.twilio_errors import Blame
from workers import twilio_rest
from workers.services import Services

log = logging.getLogger(__name__)

#: Most REST look-ups one sweep makes (Twilio's API is rate limited per account).
LOOKUPS_PER_SWEEP = 20


def _refused(services: Services, exc: Exception) -> None:
    """A look-up failed: an account-level refusal pauses dialing; anything else waits."""
    if twilio_rest.blame(exc) is Blame.ACCOUNT:
        account.pause_dialing(
            services.redis, twilio_rest.error_code(exc), twilio_rest.describe(exc)
        )
    log.warning("reconciliation look-up failed: %s", twilio_rest.describe(exc))


def settle_reservation(services: Services, res: Reservation) -> callbacks.Ended | None:
    """Settle a reservation whose lease ran out: how it ended, or None (still live, or
    Twilio could not say: looked at again after another lease)."""
    r, settings = services.redis, services.settings
    try:
        leg = twilio_rest.fetch_call(services, res.counselor_call_sid)
    except Exception as exc:  # any failure: look again after another lease
        _refused(services, exc)
        callbacks.touch(r, settings, res.id)
        return None
    if leg is None:
        # Twilio has no such call: nobody is on the phone for this callback.
        ended = callbacks.release(r, settings, res.id, "call unknown to Twilio")
    elif leg.status in callbacks.FINAL_STATUSES:
        ended = callbacks.counselor_leg_ended(r, settings, res.id, leg.status)
    else:
        callbacks.touch(r, settings, res.id)  # still live: look again after another lease
        return None
    if ended is not None:
        log.info("reconciled reservation %s: %s", res.id, ended.ending.value)
    return ended


def release_unknown_call(services: Services, res: Reservation) -> callbacks.Ended | None:
    """Release a reservation whose counselor may have been rung without its CallSid reaching
    us: hang up any live call to their phone first, so they are never rung twice at once.
    If Twilio cannot be asked, their phone counts as busy for as long as such a call lasts."""
    r, settings = services.redis, services.settings
    counselor = get_counselor(r, res.counselor_id)
    try:
        if counselor is not None:
            twilio_rest.end_live_calls_to(services, counselor.phone)
    except Exception as exc:  # could not ask: assume the worst
        _refused(services, exc)
        return callbacks.release(r, settings, res.id, "lease expired", call_unknown=True)
    return callbacks.release(r, settings, res.id, "lease expired")


def settle_intake(services: Services, now: float, budget: int) -> int:
    """Queue callers whose inbound call ended without its status callback reaching us (they
    hung up mid-IVR); returns how many were settled."""
    r, settings = services.redis, services.settings
    settled = 0
    for lead_id, call_sid in intake.stale_intake(r, now - settings.intake_check_seconds, budget):
        try:
            leg = twilio_rest.fetch_call(services, call_sid)
        except Exception as exc:  # look again later
            _refused(services, exc)
            intake.recheck_later(r, lead_id, now)
            continue
        status = "completed" if leg is None else leg.status
        if status not in callbacks.FINAL_STATUSES:
            intake.recheck_later(r, lead_id, now)
            continue
        intake.call_ended(r, settings, call_sid, status)
        settled += 1
    return settled
