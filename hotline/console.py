"""The counselor console: own state with one-click changes, the callback being offered or
on the line (the number shown only while on the call), and the disposition afterwards.

Like the dashboard, the live parts are HTML fragments polled every second (see
hotline.dashboard for why not server-sent events); the state box and the call box are
polled separately so a state change never wipes a half-written disposition note.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from hotline import audit
from hotline.auth import counselor_required
from hotline.i18n import N_, translated
from hotline.services import get_redis, get_settings, services
from routing import dispositions, supervision
from routing.counselors import (
    Counselor,
    CounselorStatus,
    get_counselor,
    make_available,
    make_offline,
)
from routing.leads import lead_attempts
from routing.reservation import CALLER_LEG, ReservationState
from workers.jobs import request_match, schedule_requeue

bp = Blueprint("console", __name__, url_prefix="/console")

#: Reasons offered for a break (a break is offline with one of them).
BREAK_REASONS = supervision.BREAK_REASONS
#: Statuses in which the counselor's state changes by itself (the call decides).
BUSY = (CounselorStatus.RESERVED.value, CounselorStatus.ON_CALL.value)


def _counselor() -> Counselor | None:
    return (
        get_counselor(get_redis(), current_user.counselor_id) if current_user.counselor_id else None
    )


def _version(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


#: What the console says about a callback in progress, by phase: the state's name (the
#: state box) and the sentence on the callback card. One wording for both boxes (in
#: English here, in the counselor's language on the page).
PHASES = {
    "ringing": (N_("Phone ringing"), N_("Your phone is ringing: answer and press 1 to accept.")),
    "calling": (N_("Calling the caller"), N_("Calling the caller now…")),
    "on_call": (N_("On a call"), N_("You are on the call with this caller.")),
}


def call_phase(reservation_state: str) -> str:
    """The console's phase of a live callback: ringing (not taken yet), calling (the
    caller's phone rings or is being screened), or on the call (bridged)."""
    if reservation_state == ReservationState.BRIDGED:
        return "on_call"
    if reservation_state in CALLER_LEG:
        return "calling"
    return "ringing"


def _state_context(counselor: Counselor) -> dict[str, Any]:
    now = time.time()
    r = get_redis()
    live = supervision.current_call(r, counselor)
    shown = supervision.shown_state(counselor)
    phase = call_phase(live.reservation.state) if live is not None else ""
    # Wrap-up ends with the disposition: "Available" does not apply while one is owed.
    owed = counselor.status == CounselorStatus.WRAP_UP.value and (
        supervision.call_to_disposition(r, counselor, now) is not None
    )
    return {
        "counselor": counselor,
        "shown_state": phase or shown,
        "state_label": gettext(PHASES[phase][0]) if phase else None,
        "busy": bool(phase) or counselor.status in BUSY,
        "disposition_owed": owed,
        "seconds_in_state": supervision.time_in_state(counselor, now),
        "break_reasons": BREAK_REASONS,
        "state_version": _version(
            counselor.status, counselor.status_reason, counselor.updated_at, phase, owed
        ),
    }


def _call_context(counselor: Counselor) -> dict[str, Any]:
    r = get_redis()
    now = time.time()
    live = supervision.current_call(r, counselor)
    done = supervision.call_to_disposition(r, counselor, now)
    context: dict[str, Any] = {"live": None, "done": None}
    if live is not None:
        lead = live.lead.public(now)
        # The full number only while the counselor is talking to the caller.
        on_the_call = live.reservation.state == ReservationState.BRIDGED
        lead["shown_phone"] = live.lead.phone if on_the_call else lead["phone"]
        lead["on_the_call"] = on_the_call
        lead["reservation_state"] = live.reservation.state
        lead["reservation_id"] = live.reservation.id
        lead["phase"] = call_phase(live.reservation.state)
        lead["phase_text"] = gettext(PHASES[lead["phase"]][1])
        lead["earlier_attempts"] = [
            a for a in lead_attempts(r, live.lead.id) if a.get("reservation") != live.reservation.id
        ]
        context["live"] = lead
        audit.lead_viewed(r, live.lead.id)
    if done is not None:
        context["done"] = done.lead.public(now)
        audit.lead_viewed(r, done.lead.id)
    context["call_version"] = _version(
        context["live"]
        and (
            context["live"]["id"],
            context["live"]["reservation_state"],
            context["live"]["attempts"],
        ),
        context["done"] and context["done"]["id"],
    )
    context["dispositions"] = [
        (d.value, gettext(label)) for d, label in dispositions.LABELS.items()
    ]
    return context


@bp.get("/")
@counselor_required
def index() -> Any:
    """The console page."""
    counselor = _counselor()
    if counselor is None:
        return render_template(
            "error.html",
            code=409,
            message=gettext(
                "Your account is not linked to a counselor record. Ask an admin to link it."
            ),
        ), 409
    return render_template(
        "console.html", **_state_context(counselor), **_call_context(counselor), poll_ms=1000
    )


@bp.get("/live/state")
@counselor_required
def live_state() -> Any:
    """The state box (polled)."""
    counselor = _counselor()
    if counselor is None:
        return Response("", 409)
    return render_template("_console_state.html", **_state_context(counselor))


@bp.get("/live/call")
@counselor_required
def live_call() -> Any:
    """The call box (polled)."""
    counselor = _counselor()
    if counselor is None:
        return Response("", 409)
    return render_template("_console_call.html", **_call_context(counselor))


@bp.post("/state")
@counselor_required
def change_state() -> Response:
    """Available, offline or on break, in one click."""
    counselor = _counselor()
    if counselor is None:
        flash(gettext("Your account is not linked to a counselor record."), "error")
        return redirect(url_for("console.index"))
    r = get_redis()
    wanted = request.form.get("state", "")
    if wanted == "available":
        if counselor.status == CounselorStatus.WRAP_UP.value and supervision.call_to_disposition(
            r, counselor
        ):
            flash(gettext("Save how the call ended first: that ends your wrap-up."), "error")
        elif make_available(r, counselor):
            request_match(services())  # someone may be waiting for exactly this counselor
            flash(gettext("You are available for callbacks."), "success")
        else:
            flash(gettext("You are on a call; finish it first."), "error")
    elif wanted in ("offline", "break"):
        reason = ""
        if wanted == "break":
            reason = request.form.get("reason", "Break")
            if reason not in BREAK_REASONS:
                reason = "Break"
        if make_offline(r, counselor, reason=reason):
            said = gettext("You are on a break.") if reason else gettext("You are offline.")
            flash(said, "success")
        else:
            flash(gettext("You are on a call or being dialed; finish it first."), "error")
    else:
        flash(gettext("Choose available, offline or break."), "error")
    return redirect(url_for("console.index"))


def _callback_at(form: Any) -> float | None:
    """The chosen call-back time: the browser's epoch seconds (its local time zone), or
    the datetime-local field read as UTC when scripts are off."""
    epoch = form.get("callback_epoch", "").strip()
    if epoch:
        try:
            return float(epoch)
        except ValueError:
            return None
    local = form.get("callback_at", "").strip()
    if not local:
        return None
    try:
        return datetime.fromisoformat(local).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


@bp.post("/disposition")
@counselor_required
def disposition() -> Any:
    """Record how the call ended; this ends the wrap-up."""
    counselor = _counselor()
    r = get_redis()
    done = supervision.call_to_disposition(r, counselor) if counselor else None
    lead_id = request.form.get("lead_id", "")
    if counselor is None or done is None or done.lead.id != lead_id:
        flash(gettext("There is no call waiting for your disposition."), "error")
        return redirect(url_for("console.index"))
    try:
        recorded = dispositions.record(
            r,
            get_settings(),
            lead_id,
            counselor.id,
            request.form.get("value", ""),
            note=request.form.get("note", ""),
            callback_at=_callback_at(request.form),
            by=current_user.username,
        )
    except dispositions.DispositionError as exc:
        counselor = _counselor()
        if counselor is None:  # the counselor was retired meanwhile
            abort(403)
        context = _call_context(counselor)
        return render_template(
            "console.html",
            **_state_context(counselor),
            **context,
            poll_ms=1000,
            disposition_error=translated(exc),
            form=request.form,
        ), 400
    audit.record(r, "disposition", lead_id, value=recorded.value)
    if recorded.callback_at is not None:
        schedule_requeue(services(), lead_id, recorded.callback_at)
    request_match(services())  # wrap-up is over: the counselor may take the next one
    flash(gettext("Disposition saved. Wrap-up is over."), "success")
    return redirect(url_for("console.index"))
