"""Checking X-Twilio-Signature on every /twilio/* request, against the public URL."""

from __future__ import annotations

from flask import request
from twilio.request_validator import RequestValidator

from hotline.services import get_settings


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
