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

Hang-up mid-IVR: the lead is still queued, flagged ``ivr_abandoned`` and with
``consent_at`` left at 0 (the caller never confirmed the number). We call them back anyway:
they called a helpline for help and may have been cut off or interrupted, and a counselor
seeing the flag knows to open carefully. The number used is the one the IVR holds at that
moment: the caller ID until the caller asks for a different number (then no number, so no
lead is queued, since they told us not to use it) and a keyed number once it is valid.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from redis import Redis
from redis.exceptions import WatchError

from routing import dispositions, keys, queue, stats
from routing.counselors import FREE, OFF_DUTY
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
from routing.ivr_sessions import (
    LEAD_PREFIX,
    SESSION_TTL,
    Queueing,
    condition,
    load_session,
    save_session,
    session_pairs,
    step_session,
)
from routing.leads import (
    PENDING_STATUSES,
    Lead,
    LeadStatus,
    get_lead,
    history_entry,
    record_event,
)
from routing.phones import caller_id_number, mask, national_digits, number_digest
from routing.prompts import spoken_digits, spoken_wait
from routing.scripts import flat_pairs, run_script
from settings import Settings

log = logging.getLogger(__name__)

#: Seconds the CallSid -> lead link is kept, so a late duplicate never makes a second lead.
CALL_LEAD_TTL = 30 * 86400
#: Seconds a number -> pending lead link is kept; it is checked against the lead's status
#: on every use, so a stale one is harmless.
PENDING_TTL = 30 * 86400
#: Daily counter: calls that ended in the IVR with no number we could call back.
NO_CALLBACK_NUMBER = "no_callback_number"
#: Reason of a hang-up lead not queued because its number is on the do-not-call list.
DO_NOT_CALL = "do_not_call"
#: Call statuses that mean the inbound call is over.
ENDED_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
#: Lead statuses a caller may cancel from (a counselor is not dialing them right now).
CANCELLABLE = frozenset(
    s.value for s in (LeadStatus.WAITING, LeadStatus.RETRY_WAIT, LeadStatus.DEFERRED)
)


def pending_key(settings: Settings, phone: str) -> str:
    """The key holding the pending lead id of a callback number (keyed by its digest)."""
    return keys.PENDING_BY_NUMBER.format(number_digest(phone, settings.secret_key))


def find_pending(r: Redis, settings: Settings, phone: str) -> Lead | None:
    """The lead still owed a callback at ``phone``, if any."""
    lead_id = r.get(pending_key(settings, phone))
    lead = get_lead(r, lead_id) if lead_id else None
    if lead is None or lead.phone != phone or not LeadStatus(lead.status).pending:
        return None
    return lead


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
) -> Turn:
    """The caller's answer to ``step``; finishing work (queueing, cancelling) is done here.
    One round trip for the step itself (routing.ivr_sessions.step_session)."""
    decisions, check = _decisions(settings, step, digits)
    completes = any(d.finish is Finish.COMPLETE for d in decisions.values())
    stepped = step_session(
        r,
        settings.secret_key,
        call_sid,
        step,
        decisions,
        never_call_check=check,
        queueing=_queueing(settings) if completes else None,
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
        _log_queued(Lead.from_redis(stepped.lead), abandoned=False)
        if stepped.replicas == 0:
            log.warning(
                "lead %s queued but on no replica after %s ms; the caller is told anyway",
                stepped.lead_id,
                settings.redis_wait_ms,
            )
        wait = queue.wait_estimate(stepped.place, stepped.wait_inputs or [0, 0])
        say = (
            Phrase(
                "closing", {"place": stepped.place, "wait": spoken_wait(wait, turn.state.language)}
            ),
        )
        return replace(turn, say=say, queued=True)
    if turn.finish is not None:
        turn = _finish(r, settings, stepped.lead_id, turn, stepped.lead)
    return turn


def _queueing(settings: Settings) -> Queueing:
    """What the IVR step's script needs to queue a lead whose caller confirms their number
    (as intake_complete.lua, for a caller who hung up, is given by _queue_if_unchanged)."""
    now = time.time()
    written = {
        "status": LeadStatus.WAITING.value,
        "ivr_abandoned": "0",
        "consent_at": repr(now),  # they confirmed the number: consent (module docstring)
        "updated_at": repr(now),
        # queued_at starts the clock of the insurance-specialist preference (as add_waiting).
        "queued_at": repr(now),
    }
    bucket_head, rest = keys.WAITING.split("{0}")
    bucket_middle, bucket_tail = rest.split("{1}")
    return Queueing(
        stats.day_key(settings.report_time_zone, now),
        {
            "bucket": [bucket_head, bucket_middle, bucket_tail],
            "pending": keys.PENDING_BY_NUMBER.split("{0}"),
            "events": keys.LEAD_EVENTS.split("{0}"),
            "urgent_head_start": settings.urgent_head_start,
            "self_head_start": settings.self_head_start,
            "pending_ttl": PENDING_TTL,
            "counters_ttl": stats.RETENTION_SECONDS,
            "counters": stats.LEADS_CREATED,
            "entry": history_entry("waiting", ivr_abandoned=False),
            "lifted": history_entry("do_not_call_lifted"),
            "fields": flat_pairs(written),
            "free": " ".join(FREE),
            "off": " ".join(OFF_DUTY),
        },
    )


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
    queued, newly, _ = _complete(r, settings, lead.id, abandoned=True, read=data)
    return queued if newly else None


def stale_intake(r: Redis, older_than: float, limit: int) -> list[tuple[str, str]]:
    """(lead id, CallSid) of leads still in the IVR whose call began before ``older_than``:
    their inbound status callback may have been lost. Leads that left the IVR are dropped
    from the list here (it is kept loosely: only this sweep removes from it)."""
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
    turn = restart(phone) if restarted else start(phone)
    kind, lead_id = _claim_call(r, settings, call_sid, phone, turn.state)
    if kind == "created":
        log.info("call %s: lead %s created (caller %s)", call_sid, lead_id, mask(phone))
        return turn
    if kind == "pending":
        log.info("call %s: caller %s has pending lead %s", call_sid, mask(phone), lead_id)
        pending = get_lead(r, lead_id)
        if pending is not None:
            return _start_pending(r, settings, call_sid, pending)
    # A repeated delivery, or a step whose session expired: rebuild from the lead.
    loaded = load_session(r, call_sid)
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
    makes a second lead."""
    now = time.time()
    lead = Lead(
        id="", call_sid=call_sid, phone=phone, first_call_at=now, created_at=now, updated_at=now
    )
    lead_fields = lead.to_redis()
    del lead_fields["id"]  # minted by the script
    session = session_pairs(first, settings.secret_key)
    events_head, events_tail = keys.LEAD_EVENTS.split("{0}")
    kind, lead_id = run_script(
        r,
        "intake_open",
        [
            keys.CALL_LEAD.format(call_sid),
            # Without a number the script reads no pending link; any key name fills the slot.
            pending_key(settings, phone) if phone else keys.CALL_LEAD.format(call_sid),
            keys.LEAD_SEQ,
            keys.LEADS_BY_TIME,
            stats.day_key(settings.report_time_zone, now),
            keys.IVR_SESSION.format(call_sid),
            keys.INTAKE,
        ],
        [
            phone,
            " ".join(s.value for s in PENDING_STATUSES),
            LEAD_PREFIX,
            events_head,
            events_tail,
            CALL_LEAD_TTL,
            repr(now),
            stats.CALLS_RECEIVED,
            stats.RETENTION_SECONDS,
            SESSION_TTL,
            history_entry("call_received", call_sid=call_sid),
            len(lead_fields),
            *flat_pairs(lead_fields),
            *session,
        ],
    )
    return str(kind), str(lead_id)


# --- endings -----------------------------------------------------------------------------


def _finish(
    r: Redis, settings: Settings, lead_id: str, turn: Turn, read: dict[str, str] | None = None
) -> Turn:
    """Act on how the IVR ended and say the matching closing words (``read``: the lead
    hash if the caller has just read it)."""
    language = turn.state.language
    if turn.finish is Finish.COMPLETE:
        lead, newly, place = _complete(r, settings, lead_id, read=read)
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


def complete(
    r: Redis, settings: Settings, lead_id: str, *, abandoned: bool = False
) -> tuple[Lead | None, bool]:
    """Queue an intake lead (status waiting); (lead, True) only for the call that did it,
    so a repeated request or a racing status callback never queues it twice."""
    lead, newly, _ = _complete(r, settings, lead_id, abandoned=abandoned)
    return lead, newly


def _complete(
    r: Redis,
    settings: Settings,
    lead_id: str,
    *,
    abandoned: bool = False,
    read: dict[str, str] | None = None,
) -> tuple[Lead | None, bool, int | None]:
    """``complete``, also giving the lead's place in line when it was queued now; ``read``
    is the lead hash if the caller has just read it (one round trip fewer)."""
    key = keys.LEAD.format(lead_id)
    data: dict[str, Any] = r.hgetall(key) if read is None else read
    while True:
        if not data:
            return None, False, None
        lead = Lead.from_redis(data)
        if abandoned and lead.phone and dispositions.is_do_not_call(r, settings, lead.phone):
            # They asked not to be called and did not give consent again on this call.
            fail_no_number(r, settings, lead_id, abandoned=True, reason=DO_NOT_CALL)
            return get_lead(r, lead_id), False, None
        if lead.status != LeadStatus.INTAKE or not lead.phone:
            return _requeue_if_lost(r, settings, lead), False, None
        place = _queue_if_unchanged(r, settings, lead, data, abandoned=abandoned)
        if place:
            break
        data = r.hgetall(key)  # changed since it was read: decide again on what it holds now
    _log_queued(lead, abandoned=abandoned)
    return lead, True, place


def _log_queued(lead: Lead, *, abandoned: bool) -> None:
    log.info(
        "lead %s waiting: %s, %s, %s, insurance %s, callback %s%s",
        lead.id,
        lead.language,
        lead.situation,
        "urgent" if lead.urgent else "not urgent",
        lead.insurance,
        mask(lead.phone),
        " (hung up in the IVR)" if abandoned else "",
    )


def _queue_if_unchanged(
    r: Redis, settings: Settings, lead: Lead, read: dict[str, str], *, abandoned: bool
) -> int:
    """Queue ``lead`` (status waiting, in line, pending link, history, counters) in one
    atomic step (routing/lua/intake_complete.lua), unless its hash no longer holds ``read``.
    Updates ``lead`` to what was written; its place in line when queued, else 0."""
    now = time.time()
    lead.status = LeadStatus.WAITING.value
    lead.ivr_abandoned = abandoned
    lead.consent_at = 0.0 if abandoned else now  # see the module docstring
    lead.updated_at = now
    # queued_at starts the clock of the insurance-specialist preference (as add_waiting).
    written = {**lead.to_redis(), "queued_at": repr(now), "updated_at": repr(now)}
    counters = [stats.LEADS_CREATED] + ([stats.IVR_ABANDONED] if abandoned else [])
    score = lead.queue_score(settings.urgent_head_start, settings.self_head_start)
    keys_ = [
        keys.LEAD.format(lead.id),
        queue.bucket_key(lead.language, lead.insurance),
        keys.WAITING_ALL,
        pending_key(settings, lead.phone),
        keys.LEAD_EVENTS.format(lead.id),
        keys.DO_NOT_CALL,
        stats.day_key(settings.report_time_zone, now),
    ]
    args = [
        repr(score),
        lead.id,
        PENDING_TTL,
        stats.RETENTION_SECONDS,
        " ".join(counters),
        # A hang-up gave no consent, so it never lifts a do-not-call entry.
        "" if abandoned else dispositions.do_not_call_digest(settings, lead.phone),
        history_entry("waiting", ivr_abandoned=abandoned),
        history_entry("do_not_call_lifted"),
        len(read),
        *flat_pairs(read),
        *flat_pairs(written),
    ]
    if abandoned or not settings.redis_sentinels:
        return int(run_script(r, "intake_complete", keys_, args))
    # The caller hears their place next: the lead must survive a failover first, so WAIT
    # for a replica on the connection that wrote it (one pipeline, one connection). Other
    # writes need no WAIT: a hang-up's lead was promised nothing, and what is in flight
    # (IVR sessions, reservations, timers) is repaired by the sweep and Twilio reconciliation.
    with r.pipeline(transaction=False) as pipe:
        run_script(pipe, "intake_complete", keys_, args)
        pipe.wait(1, settings.redis_wait_ms)
        place, replicas = pipe.execute()
    if int(place) and not replicas:
        log.warning(
            "lead %s queued but on no replica after %s ms; the caller is told anyway",
            lead.id,
            settings.redis_wait_ms,
        )
    return int(place)


def _requeue_if_lost(r: Redis, settings: Settings, lead: Lead) -> Lead:
    """A waiting lead missing from the queue (a crash between the status change and
    add_waiting) goes back in at its fixed score; matching takes it out only by changing
    its status in the same step, so this never re-adds a lead that is being served."""
    if lead.status == LeadStatus.WAITING and queue.position(r, lead.id) is None:
        log.warning("lead %s was waiting but not in line; re-queued", lead.id)
        queue.add_waiting(r, settings, lead)
    return lead


def fail_no_number(
    r: Redis,
    settings: Settings,
    lead_id: str,
    *,
    abandoned: bool = False,
    reason: str | None = None,
) -> None:
    """Record that the IVR ended with no number we may call back (nothing is queued)."""
    reason = reason or NO_CALLBACK_NUMBER
    key = keys.LEAD.format(lead_id)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                if pipe.hget(key, "status") != LeadStatus.INTAKE.value:
                    return
                pipe.multi()
                pipe.hset(
                    key,
                    mapping={
                        "status": LeadStatus.FAILED.value,
                        "status_reason": reason,
                        "ivr_abandoned": "1" if abandoned else "0",
                        "updated_at": str(time.time()),
                    },
                )
                pipe.execute()
                break
            except WatchError:
                continue
    record_event(r, lead_id, "failed", reason=reason, ivr_abandoned=abandoned)
    stats.incr(r, settings.report_time_zone, reason)
    log.info("lead %s not queued: %s (%s)", lead_id, reason, "hung up" if abandoned else "IVR")


def keep(r: Redis, lead_id: str) -> None:
    """A caller with a pending callback chose to keep it (their place does not change)."""
    record_event(r, lead_id, "caller_kept")


def cancel(r: Redis, settings: Settings, lead_id: str) -> bool:
    """Cancel a pending callback at the caller's request (True, also when it already is);
    False if a counselor is already being connected to them or it has ended otherwise."""
    key = keys.LEAD.format(lead_id)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                data: dict[str, Any] = pipe.hgetall(key)
                if data.get("status") not in CANCELLABLE:
                    pipe.unwatch()
                    return data.get("status") == LeadStatus.CANCELLED.value
                lead = Lead.from_redis(data)
                pipe.multi()
                pipe.hset(
                    key,
                    mapping={
                        "status": LeadStatus.CANCELLED.value,
                        "status_reason": "caller_cancelled",
                        "updated_at": str(time.time()),
                    },
                )
                # Out of line in the same transaction: never cancelled yet still waiting.
                queue.leave_line(pipe, lead)
                pipe.execute()
                break
            except WatchError:
                continue
    r.delete(pending_key(settings, lead.phone))
    record_event(r, lead_id, "cancelled", reason="caller_cancelled")
    log.info("lead %s cancelled by the caller", lead_id)
    return True
