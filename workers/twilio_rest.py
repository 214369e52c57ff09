"""The only module that calls Twilio's REST API (the twilio library's Client, whose base URL
is TWILIO_API_BASE_URL: Twilio itself, or the local stand-in), and the one place the
callback webhooks' URLs are built."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis.exceptions import RedisError
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ConnectTimeout
from requests.exceptions import Timeout as RequestsTimeout
from twilio.base.exceptions import TwilioRestException

from routing import metrics
from routing.twilio_errors import Blame, blame_rest
from settings import Settings
from workers.services import Services

log = logging.getLogger(__name__)

#: Events the counselor leg reports to its status callback.
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
#: Path of the callback webhooks under PUBLIC_BASE_URL (webhooks.py serves it).
CALLBACK_PATH = "/twilio/callback/{0}/{1}"


def callback_url(settings: Settings, reservation_id: str, leg: str) -> str:
    """Public URL of one webhook of a callback (the reservation id is opaque)."""
    return settings.public_base_url + CALLBACK_PATH.format(reservation_id, leg)


def call_counselor(services: Services, reservation_id: str, to: str) -> str:
    """Ring a counselor for a reservation; the new call's CallSid.

    Answering-machine detection is on (synchronous: the whisper's request carries its
    answer), so a counselor's voicemail counts as a missed offer instead of hearing it.
    """
    if services.twilio is None:
        raise RuntimeError("the worker's services have no twilio client")
    settings = services.settings
    with counting_errors(services):
        call = services.twilio.calls.create(
            to=to,
            from_=settings.callback_from,
            url=callback_url(settings, reservation_id, "whisper"),
            method="POST",
            status_callback=callback_url(settings, reservation_id, "counselor-status"),
            status_callback_event=STATUS_EVENTS,
            status_callback_method="POST",
            timeout=settings.counselor_ring_seconds,
            machine_detection="Enable",
        )
    return str(call.sid)


@dataclass(frozen=True)
class CallFacts:
    """What Twilio's REST API says of one call leg."""

    sid: str
    status: str
    answered_by: str
    duration: int


def fetch_call(services: Services, call_sid: str) -> CallFacts | None:
    """A call leg as Twilio has it now; None if Twilio does not know it (404)."""
    if services.twilio is None:
        raise RuntimeError("the worker's services have no twilio client")
    try:
        with counting_errors(services):
            call = services.twilio.calls(call_sid).fetch()
    except TwilioRestException as exc:
        if exc.status == 404:
            return None
        raise
    return CallFacts(
        sid=str(call.sid),
        status=str(call.status),
        answered_by=str(call.answered_by or ""),
        duration=int(call.duration or 0),
    )


#: Statuses of a call that has not ended.
LIVE_STATUSES = ("queued", "ringing", "in-progress")


def end_live_calls_to(services: Services, number: str) -> int:
    """Hang up every live call to ``number`` (a counselor call whose CallSid never reached
    us: its callback is over, nobody should hear it); how many were ended."""
    if services.twilio is None:
        raise RuntimeError("the worker's services have no twilio client")
    ended = 0
    with counting_errors(services):
        for status in LIVE_STATUSES:
            for call in services.twilio.calls.list(to=number, status=status, page_size=20):
                services.twilio.calls(call.sid).update(status="completed")
                ended += 1
    return ended


def error_label(exc: BaseException) -> str | None:
    """The metrics label of a failed REST request: Twilio's error code (its HTTP status when
    it gave none), ``connection`` (nothing reached Twilio) or ``timeout`` (no answer in
    time); None for an exception that is not a failed request (ours to fix, not Twilio's)."""
    if isinstance(exc, TwilioRestException):
        return str(error_code(exc))
    if isinstance(exc, ConnectTimeout | RequestsConnectionError):
        return "connection"
    if isinstance(exc, RequestsTimeout):
        return "timeout"
    return None


@contextmanager
def counting_errors(services: Services) -> Iterator[None]:
    """Count each REST request that fails inside the block (keys.METRICS, by
    :func:`error_label`), then let the exception go on as it was."""
    try:
        yield
    except Exception as exc:
        label = error_label(exc)
        if label is not None:
            try:
                metrics.incr(services.redis, metrics.TWILIO_ERRORS.format(label))
            except RedisError as lost:  # the count is lost; Twilio's error must not be
                log.warning("Twilio error %s not counted: %s", label, lost)
        raise


def blame(exc: BaseException) -> Blame | None:
    """Whose problem a failed REST request is; None when it is unknown whether Twilio
    received it (a timeout: a call may have been placed)."""
    if isinstance(exc, TwilioRestException):
        return blame_rest(exc.status, exc.code)
    if isinstance(exc, ConnectTimeout):
        return Blame.TRANSIENT  # no connection was made: nothing was sent
    if isinstance(exc, RequestsTimeout):
        return None
    # A refused connection never reached Twilio, so nothing was dialed.
    if isinstance(exc, RequestsConnectionError):
        return Blame.TRANSIENT
    return None


def error_code(exc: BaseException) -> int:
    """Twilio's error code of a refused request (its HTTP status when it gave none)."""
    if isinstance(exc, TwilioRestException):
        return int(exc.code or exc.status)
    return 0


def describe(exc: BaseException) -> str:
    """A short reason for a lead's or counselor's record (no number in it)."""
    if isinstance(exc, TwilioRestException):
        return f"Twilio error {exc.code or exc.status}"
    return type(exc).__name__
