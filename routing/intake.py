"""Intake: an inbound call's IVR session and its lead, in Redis.

One lead per inbound CallSid (claimed once on ``CALL_LEAD``), created as ``intake`` when the
call arrives, its answers saved as the caller gives them, and queued (``waiting``) when the
IVR completes or the caller hangs up mid-IVR. The IVR's step, tries and answers live in an
expiring session hash per CallSid (``IVR_SESSION``); phone numbers only in the lead hash.

Every webhook waits for its Redis round trips, so each request makes one, with short Lua
scripts that check and write atomically: a new call is ``intake_open``; a menu step is
``ivr_step`` (routing.ivr_sessions.step_session: the session read, the decision Python made
for each state that matters applied, the answers written while the lead is in intake), and
on the step that confirms the number the same script queues the lead and reads what the wait
estimate needs. A caller who hangs up in the IVR is queued by ``intake_complete`` (a
compare-and-set on the lead as read).

How a call leaves the IVR (queued, no number, a pending callback kept or cancelled) is
``routing.ivr_outcomes``.

Hang-up mid-IVR: the lead is still queued, flagged ``ivr_abandoned`` and with
``consent_at`` left at 0 (the caller never confirmed the number). We call them back anyway:
they called a helpline for help and may have been cut off or interrupted, and a counselor
seeing the flag knows to open carefully. The number used is the one the IVR holds at that
moment: the caller ID until the caller asks for a different number (then no number, so no
lead is queued, since they told us not to use it) and a keyed number once it is valid.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from dataclasses import replace

from redis import Redis

from routing import keys, queue, stats
from routing.ivr import (
    Decision,
    Finish,
    Phrase,
    State,
    Step,
    Turn,
    decide,
    render,
    replay,
    restart,
    start,
    start_pending,
)
from routing.ivr_outcomes import (
    cancel,
    complete,
    fail_no_number,
    keep,
    log_queued,
    pending_field,
    queueing,
)
from routing.ivr_sessions import (
    SESSION_TTL,
    condition,
    load_session,
    save_session,
    session_pairs,
    step_session,
)
from routing.leads import (
    LEAD_IDS,
    PENDING_STATUSES,
    Lead,
    LeadStatus,
    get_lead,
    history_entry,
)
from routing.phones import caller_id_number, mask, national_digits
from routing.prompts import spoken_digits, spoken_wait
from routing.scripts import flat_pairs, run_script
from settings import Settings

log = logging.getLogger(__name__)

#: What a lead id looks like (routing.leads.LEAD_IDS): a step's URL names one.
LEAD_ID = re.compile(r"L[0-9]{6,12}")
#: Seconds the CallSid -> lead link is kept, so a late duplicate never makes a second lead.
CALL_LEAD_TTL = 30 * 86400
#: Call statuses that mean the inbound call is over.
ENDED_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# --- requests ----------------------------------------------------------------------------


def answer_call(r: Redis, settings: Settings, call_sid: str, caller_id: str | None) -> Turn:
    """An inbound call (or a repeated delivery of it): the IVR's first turn."""
    return _open(r, settings, call_sid, caller_id, restarted=False)


def answer_step(
    r: Redis,
    settings: Settings,
    call_sid: str,
    step: str,
    digits: str | None,
    caller_id: str | None,
    lead_id: str | None = None,
) -> Turn:
    """The caller's answer to ``step``; finishing work (queueing, cancelling) is done here.
    ``lead_id``: the lead the step's URL names (the call's link is read when it names none,
    as a URL from before the lead was named in it). One round trip for the step itself
    (routing.ivr_sessions.step_session)."""
    if not (lead_id and LEAD_ID.fullmatch(lead_id)):
        lead_id = r.get(keys.CALL_LEAD.format(call_sid)) or ""
    turn = _step(r, settings, call_sid, lead_id, step, digits, caller_id)
    return turn if turn.lead_id else replace(turn, lead_id=lead_id)


def _step(
    r: Redis,
    settings: Settings,
    call_sid: str,
    lead_id: str,
    step: str,
    digits: str | None,
    caller_id: str | None,
) -> Turn:
    decisions, check = _decisions(settings, step, digits)
    completes = any(d.finish is Finish.COMPLETE for d in decisions.values())
    stepped = step_session(
        r,
        settings.secret_key,
        call_sid,
        lead_id,
        step,
        decisions,
        never_call_check=check,
        queueing=queueing(settings) if completes else None,
        # The caller hears their place next: with Sentinel the lead must be on a replica
        # first (other writes need not be: the sweep and Twilio repair what is in flight).
        wait_ms=settings.redis_wait_ms if completes and settings.redis_sentinels else None,
    )
    if stepped is None:  # no session: start over politely (never an error for the caller)
        log.info("call %s: no IVR session at step %s, restarting", call_sid, step)
        return _open(r, settings, call_sid, caller_id, restarted=True)
    if stepped.condition is None:
        # A repeated or late request for a step the caller has left: say where they are
        # (after the end, the same ending again).
        turn = replay(stepped.state)
    else:
        turn = render(stepped.state, decisions[stepped.condition])
    if stepped.place and stepped.lead is not None:  # queued by the step itself
        log_queued(Lead.from_redis(stepped.lead), abandoned=False)
        if stepped.replicas == 0:
            log.warning(
                "lead %s queued but on no replica after %s ms; the caller is told anyway",
                stepped.lead_id,
                settings.redis_wait_ms,
            )
        inputs = stepped.wait_inputs or [0, 0]
        wait = queue.wait_estimate(stepped.place, inputs)
        say = (
            Phrase(
                "closing", {"place": stepped.place, "wait": spoken_wait(wait, turn.state.language)}
            ),
        )
        # inputs[1]: counselors free as the script queued the lead (queue.wait_estimate).
        return replace(
            turn, say=say, queued=True, nobody_free=bool(stepped.wait_inputs) and inputs[1] == 0
        )
    if turn.finish is not None:
        turn = _finish(r, settings, stepped.lead_id, turn, stepped.lead)
    return turn


def _decisions(
    settings: Settings, step: str, digits: str | None
) -> tuple[dict[str, Decision], str]:
    """What ``digits`` do at ``step`` in each state that matters (routing.ivr.decide), by
    condition, and a keyed number the script looks for among the counselors' phones ('' if
    none). None for what is not a menu: the request is answered as a stale one."""
    try:
        at = Step(step)
    except ValueError:
        return {}, ""
    if at is Step.END:
        return {}, ""
    # The hotline's own numbers are known here; the counselors' are checked in the script.
    ours = frozenset({settings.hotline_number, settings.callback_from})
    if at is Step.ENTER_NUMBER:  # a caller's number is never kept beyond their request
        return _decide_all(at, digits, ours)
    return _menu_decisions(at, digits, ours)


@functools.lru_cache(maxsize=256)
def _menu_decisions(
    at: Step, digits: str | None, ours: frozenset[str]
) -> tuple[dict[str, Decision], str]:
    """:func:`_decide_all` of a menu (a key or two, never a number), decided once per
    process: the decisions are pure. Callers must not change what it returns."""
    return _decide_all(at, digits, ours)


def _decide_all(
    at: Step, digits: str | None, ours: frozenset[str]
) -> tuple[dict[str, Decision], str]:
    decisions: dict[str, Decision] = {}
    check = ""
    for last_try in (False, True):
        for has_phone in (False, True):
            plain = decide(at, digits, exhausted=last_try, has_phone=has_phone, never_call=ours)
            theirs = plain
            keyed = plain.answers.get("phone", "") if at is Step.ENTER_NUMBER else ""
            if keyed:  # a counselor's number is never a caller's callback number
                check = keyed
                theirs = decide(
                    at, digits, exhausted=last_try, has_phone=has_phone, never_call=ours | {keyed}
                )
            decisions[condition(last_try=last_try, has_phone=has_phone)] = plain
            decisions[condition(last_try=last_try, has_phone=has_phone, counselors=True)] = theirs
    return decisions, check


def call_ended(r: Redis, settings: Settings, call_sid: str, call_status: str) -> Lead | None:
    """The inbound call's status callback. A caller who hung up mid-IVR is queued anyway
    (flagged ivr_abandoned) if we have a number; returns the lead when it was queued now."""
    if call_status not in ENDED_STATUSES:
        return None
    lead_id = r.get(keys.CALL_LEAD.format(call_sid))
    data: dict[str, str] = r.hgetall(keys.LEAD.format(lead_id)) if lead_id else {}
    lead = Lead.from_redis(data) if data else None
    if lead is None or lead.call_sid != call_sid or lead.status != LeadStatus.INTAKE:
        return None  # finished in the IVR, a pending caller's call, or not ours
    if not lead.phone:
        fail_no_number(r, settings, lead.id, abandoned=True)
        return None
    queued, newly, _ = complete(r, settings, lead.id, abandoned=True, read=data)
    return queued if newly else None


def stale_intake(r: Redis, older_than: float, limit: int) -> list[tuple[str, str]]:
    """(lead id, CallSid) of leads still in the IVR whose call began before ``older_than``:
    their inbound status callback may have been lost. Queueing a lead takes it off the
    list; one that left the IVR otherwise (no number, say) is dropped here."""
    ids = r.zrangebyscore(keys.INTAKE, "-inf", older_than, start=0, num=limit)
    if not ids:
        return []
    pipe = r.pipeline(transaction=False)
    for lead_id in ids:
        pipe.hmget(keys.LEAD.format(lead_id), "status", "call_sid")
    stale, done = [], []
    for lead_id, (status, call_sid) in zip(ids, pipe.execute(), strict=True):
        if status == LeadStatus.INTAKE.value and call_sid:
            stale.append((lead_id, call_sid))
        else:
            done.append(lead_id)
    if done:
        r.zrem(keys.INTAKE, *done)
    return stale


def recheck_later(r: Redis, lead_id: str, at: float) -> None:
    """Look at an intake lead again after ``at`` (its call is still live, or Twilio could
    not say)."""
    r.zadd(keys.INTAKE, {lead_id: at}, xx=True)


def _open(
    r: Redis, settings: Settings, call_sid: str, caller_id: str | None, *, restarted: bool
) -> Turn:
    """Find or create the call's lead and session, idempotently per CallSid."""
    phone = caller_id_number(caller_id) or ""
    if phone in (settings.hotline_number, settings.callback_from):
        phone = ""  # a call from our own line (a transfer, a test): never call it back
    turn = restart(phone) if restarted else start(phone)
    kind, lead_id = _claim_call(r, settings, call_sid, phone, turn.state)
    opened = _opened(r, settings, call_sid, phone, turn, kind, lead_id, restarted=restarted)
    return replace(opened, lead_id=lead_id)


def _opened(
    r: Redis,
    settings: Settings,
    call_sid: str,
    phone: str,
    turn: Turn,
    kind: str,
    lead_id: str,
    *,
    restarted: bool,
) -> Turn:
    """The first turn of a call whose CallSid ``_claim_call`` linked to ``lead_id``."""
    if kind == "created":
        log.info("call %s: lead %s created (caller %s)", call_sid, lead_id, mask(phone))
        return turn
    if kind == "pending":
        log.info("call %s: caller %s has pending lead %s", call_sid, mask(phone), lead_id)
        pending = get_lead(r, lead_id)
        if pending is not None:
            return _start_pending(r, settings, call_sid, pending)
    # A repeated delivery, or a step whose session expired: rebuild from the lead.
    loaded = load_session(r, call_sid, lead_id)
    if loaded is not None and not restarted:
        return replay(loaded[1]) if loaded[1].step is not Step.END else _replay_end(loaded)
    lead = get_lead(r, lead_id)
    if lead is None:  # the lead is gone (removed by hand): just greet
        return restart(phone) if restarted else start(phone)
    if lead.call_sid != call_sid:
        return _start_pending(r, settings, call_sid, lead)
    if lead.status == LeadStatus.INTAKE:
        turn = restart(lead.phone) if restarted else start(lead.phone)
        save_session(r, settings.secret_key, call_sid, lead_id, turn.state)
        return turn
    # The IVR already ended for this call: end it the same way again.
    outcome = Finish.NO_NUMBER if lead.status == LeadStatus.FAILED else Finish.COMPLETE
    state = State(step=Step.END, language=lead.language, phone=lead.phone, outcome=outcome)
    save_session(r, settings.secret_key, call_sid, lead_id, state)
    return _finish(r, settings, lead_id, replay(state))


def _replay_end(loaded: tuple[str, State]) -> Turn:
    # Only reached for a repeated /twilio/voice after the IVR ended; the caller is gone.
    return Turn(loaded[1], (Phrase("goodbye"),))


def _start_pending(r: Redis, settings: Settings, call_sid: str, lead: Lead) -> Turn:
    place = queue.position(r, lead.id) or 0
    turn = start_pending(lead.language, place)
    save_session(r, settings.secret_key, call_sid, lead.id, turn.state)
    return turn


def _claim_call(
    r: Redis, settings: Settings, call_sid: str, phone: str, first: State
) -> tuple[str, str]:
    """Link the CallSid to the caller's pending lead, or to a new intake lead with ``first``
    as its session, unless it is linked already: ("existing" | "pending" | "created", lead
    id). One round trip (routing/lua/intake_open.lua), atomic, so a repeated delivery never
    makes a second lead; two for a caller whose number links to a lead (its hash is then
    given to the script)."""
    now = time.time()
    lead = Lead(
        id="", call_sid=call_sid, phone=phone, first_call_at=now, created_at=now, updated_at=now
    )
    lead_fields = lead.to_redis()
    del lead_fields["id"]  # the script writes the id it is given
    session = session_pairs(first, settings.secret_key)
    digest = pending_field(settings, phone) if phone else ""
    day = stats.day_key(settings.report_time_zone, now)
    linked = ""  # the lead the number links to, once the script named it
    new_id = LEAD_IDS.take(r)
    while True:
        kind, lead_id = run_script(
            r,
            "intake_open",
            [
                keys.CALL_LEAD.format(call_sid),
                keys.PENDING_LINKS,
                keys.LEADS_BY_TIME,
                day,
                keys.IVR_SESSION.format(call_sid),
                keys.INTAKE,
                keys.COUNSELOR_PHONES,
                keys.LEAD.format(new_id),
                keys.LEAD_EVENTS.format(new_id),
                *([keys.LEAD.format(linked)] if linked else []),
            ],
            [
                phone,
                digest,
                " ".join(s.value for s in PENDING_STATUSES),
                new_id,
                CALL_LEAD_TTL,
                repr(now),
                stats.CALLS_RECEIVED,
                stats.RETENTION_SECONDS,
                SESSION_TTL,
                history_entry("call_received", call_sid=call_sid),
                linked,
                len(lead_fields),
                *flat_pairs(lead_fields),
                *session,
            ],
        )
        if kind == "check":
            linked = str(lead_id)
        elif kind == "taken":
            new_id = LEAD_IDS.take(r)
        else:
            if kind != "created":
                LEAD_IDS.give_back(r, new_id)
            return str(kind), str(lead_id)


# --- endings -----------------------------------------------------------------------------


def _finish(
    r: Redis, settings: Settings, lead_id: str, turn: Turn, read: dict[str, str] | None = None
) -> Turn:
    """Act on how the IVR ended and say the matching closing words (``read``: the lead
    hash if the caller has just read it)."""
    language = turn.state.language
    if turn.finish is Finish.COMPLETE:
        lead, newly, place = complete(r, settings, lead_id, read=read)
        return replace(turn, say=_closing(r, lead, language, place), queued=newly)
    if turn.finish is Finish.NO_NUMBER:
        fail_no_number(r, settings, lead_id)
        hotline = spoken_digits(national_digits(settings.hotline_number))
        return replace(turn, say=(Phrase("no_number", {"hotline": hotline}),))
    if turn.finish is Finish.CANCEL:
        cancelled = cancel(r, settings, lead_id)
        return replace(turn, say=(Phrase("cancelled" if cancelled else "cancel_too_late"),))
    keep(r, lead_id)
    return replace(turn, say=(Phrase("kept"),))


def _closing(
    r: Redis, lead: Lead | None, language: str, place: int | None = None
) -> tuple[Phrase, ...]:
    """Place in line (``place`` if already known) and an honest estimate, or a plain
    goodbye once no longer in line."""
    if place is None and lead is not None:
        place = queue.position(r, lead.id)
    if place is None:
        pending = lead is not None and LeadStatus(lead.status).pending
        return (Phrase("kept" if pending else "goodbye"),)
    wait = spoken_wait(queue.estimate_wait_seconds(r, place), language)
    return (Phrase("closing", {"place": place, "wait": wait}),)
