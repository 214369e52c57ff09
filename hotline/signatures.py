"""Checking X-Twilio-Signature on every /twilio/* request, against the public URL."""

from __future__ import annotations

import hmac
from functools import cache

from flask import request
from twilio.request_validator import RequestValidator

from hotline.services import get_settings


def public_url() -> str:
    """The URL Twilio requested, rebuilt from PUBLIC_BASE_URL (what Twilio signed), so a
    TLS-terminating proxy in front of us does not change the result."""
    query = request.query_string.decode("latin-1")
    return get_settings().public_base_url + request.path + (f"?{query}" if query else "")


@cache
def _validator(auth_token: str) -> RequestValidator:
    return RequestValidator(auth_token)


def signature_is_valid() -> bool:
    """Whether the current request carries a valid Twilio signature.

    twilio's ``validate`` signs the URL twice, with and without an explicit port, because
    Twilio has signed both forms. Our URL is known exactly, so it is signed once first (with
    the library's ``compute_signature``, compared in constant time); only a request that
    does not match goes on to the library's full check.
    """
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator = _validator(get_settings().twilio_auth_token)
    url = public_url()
    if hmac.compare_digest(validator.compute_signature(url, request.form), signature):
        return True
    return bool(validator.validate(url, request.form, signature))
