"""The JSON API (``/api/*``): counselors, their status, the queue and leads.

Every request needs ``Authorization: Bearer $HOTLINE_API_TOKEN`` (see :func:`authorized`,
the one place that decides). Bad JSON or values answer 400 ``{"error", "message"}``;
phone numbers only ever leave masked. The contract is docs/openapi.yaml.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, jsonify, request

from hotline import audit, users
from hotline.services import get_redis, get_settings, services
from routing import counselors as cs
from routing import queue
from routing.leads import get_lead, lead_attempts, lead_events
from routing.phones import InvalidNumber, parse_number

bp = Blueprint("api", __name__, url_prefix="/api")

#: Longest counselor name accepted.
MAX_REASON = 100


class ApiError(Exception):
    """A request the API refuses, with its status and a message for the client."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def authorized() -> bool:
    """Whether the request may use the API: the bearer token (one place, so a signed-in
    web session can be accepted here later)."""
    header = request.headers.get("Authorization", "")
    if not header:
        # Issue 5: a signed-in supervisor or admin (the dashboard's session) may use the API
        # too; a counselor may not. Such requests carry the CSRF token (hotline.auth).
        from hotline.auth import session_user_may_supervise

        return session_user_may_supervise()
    scheme, _, token = header.partition(" ")
    expected = get_settings().hotline_api_token
    return (
        scheme.lower() == "bearer"
        and bool(token)
        and hmac.compare_digest(token.strip().encode(), expected.encode())
    )


@bp.before_app_request
def require_token() -> Response | None:
    """401 without a valid token, before anything is read. An app-wide hook (limited to
    /api/), so it answers before the app's CSRF check, which only exempts bearer calls."""
    if request.path.startswith("/api/") and not authorized():
        response = jsonify(error="unauthorized", message="send Authorization: Bearer <token>")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="hotline"'
        return response
    return None


@bp.errorhandler(ApiError)
def api_error(exc: ApiError) -> tuple[Response, int]:
    """The refusal as JSON."""
    return jsonify(error=exc.error, message=exc.message), exc.status


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(
            400, "bad_request", "expected a JSON object body (Content-Type: application/json)"
        )
    return data


def _string_list(data: dict[str, Any], name: str, required: bool) -> list[str]:
    value = data.get(name, [] if not required else None)
    if value is None or not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ApiError(400, "invalid", f"{name}: expected a list of strings")
    return value


@bp.post("/counselors")
def create_counselor() -> tuple[Response, int]:
    """Add a counselor (offline until made available)."""
    data = _body()
    name = data.get("name")
    if not isinstance(name, str):
        raise ApiError(400, "invalid", "name: expected a string")
    phone = data.get("phone")
    if not isinstance(phone, str):
        raise ApiError(400, "invalid", "phone: expected a phone number string")
    try:
        e164 = parse_number(phone)
    except InvalidNumber:
        raise ApiError(400, "invalid", "phone: not a valid phone number") from None
    languages = _string_list(data, "languages", required=True)
    insurance = _string_list(data, "insurance", required=False)
    try:
        counselor = cs.create_counselor(get_redis(), name, e164, languages, insurance)
    except cs.PhoneInUse as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except cs.CounselorError as exc:
        raise ApiError(400, "invalid", str(exc)) from None
    return jsonify(counselor.public()), 201


@bp.get("/counselors")
def list_counselors() -> Response:
    """Every counselor with their status."""
    return jsonify(counselors=[c.public() for c in cs.list_counselors(get_redis())])


@bp.get("/counselors/<counselor_id>")
def get_counselor(counselor_id: str) -> Response:
    """One counselor."""
    counselor = cs.get_counselor(get_redis(), counselor_id)
    if counselor is None:
        raise ApiError(404, "not_found", f"no counselor {counselor_id}")
    return jsonify(counselor.public())


@bp.delete("/counselors/<counselor_id>")
def retire_counselor(counselor_id: str) -> tuple[str, int]:
    """Retire a counselor who has left: out of rotation and every list, their accounts
    switched off, the record kept for lead histories. 409 while on a call."""
    r = get_redis()
    counselor = cs.get_counselor(r, counselor_id)
    if counselor is None:
        raise ApiError(404, "not_found", f"no counselor {counselor_id}")
    if not cs.retire_counselor(r, counselor):
        raise ApiError(
            409, "conflict", f"counselor is {counselor.status}; try again when the call ends"
        )
    users.release_counselor(r, counselor_id)
    return "", 204


@bp.post("/counselors/<counselor_id>/status")
def set_counselor_status(counselor_id: str) -> Response:
    """Available (joins the idle line; matching runs) or offline (with an optional reason)."""
    data = _body()
    status = data.get("status")
    if status not in ("available", "offline"):
        raise ApiError(400, "invalid", 'status: expected "available" or "offline"')
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ApiError(400, "invalid", f"reason: a string of at most {MAX_REASON}")
    r = get_redis()
    counselor = cs.get_counselor(r, counselor_id)
    if counselor is None:
        raise ApiError(404, "not_found", f"no counselor {counselor_id}")
    if status == "available":
        changed = cs.make_available(r, counselor)
    else:
        changed = cs.make_offline(r, counselor, reason)
    if not changed:
        raise ApiError(
            409, "conflict", f"counselor is {counselor.status}; try again when the call ends"
        )
    if status == "available":
        from workers import jobs  # the web process matches inline

        jobs.request_match(services())
    return jsonify(cs.get_counselor(r, counselor_id).public())  # type: ignore[union-attr]


@bp.get("/queue")
def get_queue() -> Response:
    """Waiting callbacks (best first, numbers masked), counselors and today's numbers."""
    limit = request.args.get("limit", "200")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise ApiError(400, "invalid", "limit: a whole number from 1 to 1000")
    return jsonify(queue.snapshot(get_redis(), get_settings(), int(limit)))


@bp.get("/leads/<lead_id>")
def get_lead_detail(lead_id: str) -> Response:
    """A lead, its status and each callback attempt with its outcome."""
    r = get_redis()
    lead = get_lead(r, lead_id)
    if lead is None:
        raise ApiError(404, "not_found", f"no lead {lead_id}")
    audit.lead_read(r, lead_id)  # issue 5: every read of a lead's details is recorded
    return jsonify(
        lead=lead.public(),
        status=lead.status,
        attempts=lead_attempts(r, lead_id),
        events=lead_events(r, lead_id),
        position=queue.position(r, lead_id),
    )
