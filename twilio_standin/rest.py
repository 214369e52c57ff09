"""Twilio's REST API, the part Hotline uses: the Calls resource (create, list, fetch, update).

Paths, parameters, JSON shapes and error bodies follow Twilio's API reference, so the real
``twilio`` library works against it unchanged (``client.api.base_url`` pointed here).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

import phonenumbers
from flask import Blueprint, Response, current_app, jsonify, request

from twilio_standin.calls import API_VERSION, Call, new_sid
from twilio_standin.faults import TOO_MANY_REQUESTS

if TYPE_CHECKING:
    from twilio_standin.switchboard import Switchboard

bp = Blueprint("rest", __name__, url_prefix=f"/{API_VERSION}/Accounts/<account_sid>")

#: Values of MachineDetection Twilio accepts.
MACHINE_DETECTION = ("Enable", "DetectMessageEnd")


def _standin() -> Switchboard:
    return current_app.extensions["standin"]  # type: ignore[no-any-return]


def twilio_error(status: int, code: int, message: str) -> Response:
    """Twilio's error body: {"code", "message", "more_info", "status"}."""
    response = jsonify(
        code=code,
        message=message,
        more_info=f"https://www.twilio.com/docs/errors/{code}",
        status=status,
    )
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


@bp.before_request
def authenticate() -> Response | None:
    """HTTP basic auth with the account SID and auth token, as Twilio requires."""
    standin = _standin()
    auth = request.authorization
    ok = (
        auth is not None
        and auth.type == "basic"
        and hmac.compare_digest(auth.username or "", standin.account_sid)
        and hmac.compare_digest(auth.password or "", standin.auth_token)
    )
    if not ok:
        return twilio_error(401, 20003, "Authenticate")
    if (request.view_args or {}).get("account_sid") != standin.account_sid:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return None


def _injected(operation: str) -> Response | None:
    failure = _standin().take_failure(operation)
    if failure is None:
        return None
    status, code, message = failure
    return twilio_error(status, code, message)


def _valid_number(raw: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(raw, None))
    except phonenumbers.NumberParseException:
        return False


@bp.post("/Calls.json")
def create_call(account_sid: str) -> Any:
    """Create (place) an outbound call: 201 with the Call resource, status queued."""
    if (failed := _injected("create")) is not None:
        return failed
    if (account_error := _standin().faults.account_error) is not None:
        # The account itself cannot call now (unverified From, geo permissions, a trial).
        return twilio_error(*account_error)
    form = request.form
    to, from_ = form.get("To", "").strip(), form.get("From", "").strip()
    url, twiml = form.get("Url", "").strip(), form.get("Twiml", "").strip()
    if not to:
        return twilio_error(400, 21201, "No 'To' number is specified")
    if not from_:
        return twilio_error(400, 21213, "Caller phone number is required")
    if not url and not twiml and not form.get("ApplicationSid"):
        return twilio_error(400, 21205, "Url parameter is required.")
    if url and not url.startswith(("http://", "https://")):
        return twilio_error(400, 21205, f"Url is not a valid URL: {url}")
    if not _valid_number(to):
        return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not _valid_number(from_):
        return twilio_error(400, 21212, f"Invalid 'From' Phone Number: {from_}")
    try:
        timeout = int(form.get("Timeout", "60"))
    except ValueError:
        return twilio_error(400, 21218, "Timeout must be an integer")
    detection = form.get("MachineDetection") or None
    if detection is not None and detection not in MACHINE_DETECTION:
        return twilio_error(400, 21626, f"Invalid MachineDetection value: {detection}")
    events = tuple(
        e.strip() for v in form.getlist("StatusCallbackEvent") for e in v.split(" ") if e.strip()
    )
    standin = _standin()
    call = Call(
        sid=new_sid(),
        account_sid=account_sid,
        to=to,
        from_=from_,
        direction="outbound-api",
        created_at=standin.clock.now(),
        url=url or None,
        method=(form.get("Method") or "POST").upper(),
        twiml=twiml or None,
        status_callback=form.get("StatusCallback") or None,
        status_callback_method=(form.get("StatusCallbackMethod") or "POST").upper(),
        # Twilio sends only "completed" unless other events are asked for.
        status_callback_events=events or ("completed",),
        # Twilio clamps the ring time to 600 s and treats small values as at least 5 s.
        timeout=min(600, max(5, timeout)),
        machine_detection=detection,
        async_amd=form.get("AsyncAmd", "false").lower() == "true",
        async_amd_callback=form.get("AsyncAmdStatusCallback") or None,
        async_amd_callback_method=(form.get("AsyncAmdStatusCallbackMethod") or "POST").upper(),
        params={k: (v if len(v) > 1 else v[0]) for k, v in form.lists()},
    )
    if not standin.place_within_cap(call):
        return twilio_error(*TOO_MANY_REQUESTS)
    return jsonify(call.to_json()), 201


@bp.get("/Calls.json")
def list_calls(account_sid: str) -> Any:
    """Read calls, newest first, filtered as Twilio filters them (To, From, Status; one page
    of at most PageSize, default 50)."""
    if (failed := _injected("list")) is not None:
        return failed
    args = request.args
    try:
        size = min(1000, max(1, int(args.get("PageSize", "50"))))
    except ValueError:
        return twilio_error(400, 20001, "PageSize must be an integer")
    calls = [
        c
        for c in reversed(_standin().registry.all())
        if (not args.get("To") or c.to == args["To"])
        and (not args.get("From") or c.from_ == args["From"])
        and (not args.get("Status") or c.status == args["Status"])
    ][:size]
    uri = request.full_path.rstrip("?")
    return jsonify(
        calls=[c.to_json() for c in calls],
        page=0,
        page_size=size,
        start=0,
        end=max(0, len(calls) - 1),
        uri=uri,
        first_page_uri=uri,
        next_page_uri=None,
        previous_page_uri=None,
    )


@bp.get("/Calls/<call_sid>.json")
def fetch_call(account_sid: str, call_sid: str) -> Any:
    """Fetch a call."""
    if (failed := _injected("fetch")) is not None:
        return failed
    call = _standin().registry.get(call_sid)
    if call is None:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return jsonify(call.to_json())


@bp.post("/Calls/<call_sid>.json")
def update_call(account_sid: str, call_sid: str) -> Any:
    """Update a live call: Status=completed|canceled hangs it up, Url/Twiml redirect it."""
    if (failed := _injected("update")) is not None:
        return failed
    standin = _standin()
    call = standin.registry.get(call_sid)
    if call is None:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    form = request.form
    status = form.get("Status")
    url, twiml = form.get("Url", "").strip(), form.get("Twiml", "").strip()
    if status is not None and status not in ("completed", "canceled"):
        return twilio_error(400, 20001, f"Invalid Status: {status}")
    if status:
        # Ending a call that already ended changes nothing; Twilio answers with the call.
        standin.hang_up(call, status)
    elif url or twiml:
        if call.is_final:
            return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
        standin.redirect(call, url or None, (form.get("Method") or "POST").upper(), twiml or None)
    return jsonify(call.to_json())
