"""Checking X-Twilio-Signature on every /twilio/* request, against the public URL."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, request
from twilio.request_validator import RequestValidator

from hotline.services import get_settings

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def public_url() -> str:
    """The URL Twilio requested, rebuilt from PUBLIC_BASE_URL (what Twilio signed), so a
    TLS-terminating proxy in front of us does not change the result."""
    query = request.query_string.decode("latin-1")
    return get_settings().public_base_url + request.path + (f"?{query}" if query else "")


def signature_is_valid() -> bool:
    """Whether the current request carries a valid Twilio signature."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator = RequestValidator(get_settings().twilio_auth_token)
    return bool(validator.validate(public_url(), request.form, signature))


def twilio_signed(view: F) -> F:
    """Refuse (403) a request without a valid X-Twilio-Signature before the view runs."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not signature_is_valid():
            log.warning("rejected unsigned or forged request to %s", request.path)
            return Response("Forbidden: invalid Twilio signature\n", 403, mimetype="text/plain")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
