"""The only module that calls Twilio's REST API (the twilio library's Client, whose base URL
is TWILIO_API_BASE_URL: Twilio itself, or the local stand-in)."""

from __future__ import annotations

from requests.exceptions import ConnectionError as RequestsConnectionError
from twilio.base.exceptions import TwilioRestException

from hotline.services import Services

#: Events the counselor leg reports to its status callback.
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


def callback_url(services: Services, reservation_id: str, leg: str) -> str:
    """Public URL of one webhook of a callback (the reservation id is opaque)."""
    return f"{services.settings.public_base_url}/twilio/callback/{reservation_id}/{leg}"


def call_counselor(services: Services, reservation_id: str, to: str) -> str:
    """Ring a counselor for a reservation; the new call's CallSid.

    Answering-machine detection is on, so a counselor's voicemail counts as a missed offer
    instead of hearing the whisper.
    """
    assert services.twilio is not None, "the worker's services have no twilio client"
    settings = services.settings
    call = services.twilio.calls.create(
        to=to,
        from_=settings.hotline_number,
        url=callback_url(services, reservation_id, "whisper"),
        method="POST",
        status_callback=callback_url(services, reservation_id, "counselor-status"),
        status_callback_event=STATUS_EVENTS,
        status_callback_method="POST",
        timeout=settings.counselor_ring_seconds,
        machine_detection="Enable",
    )
    return str(call.sid)


def is_transient(exc: BaseException) -> bool:
    """Whether a REST failure is worth retrying (429, 5xx, no connection at all)."""
    if isinstance(exc, TwilioRestException):
        return exc.status == 429 or exc.status >= 500
    # A refused connection never reached Twilio, so nothing was dialed.
    return isinstance(exc, RequestsConnectionError)


def is_permanent(exc: BaseException) -> bool:
    """Whether Twilio refused the request for good (an invalid number, a bad parameter)."""
    return isinstance(exc, TwilioRestException) and not is_transient(exc)


def describe(exc: BaseException) -> str:
    """A short reason for a lead's or counselor's record (no number in it)."""
    if isinstance(exc, TwilioRestException):
        return f"Twilio error {exc.code or exc.status}"
    return type(exc).__name__
