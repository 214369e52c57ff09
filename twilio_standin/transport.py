"""How the stand-in reaches the hotline's webhooks: signed like Twilio, over HTTP or WSGI."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator
from werkzeug.test import Client

#: Seconds Twilio waits for a webhook before giving up (error 11205); Faults.webhook_timeout
#: changes it per scenario.
WEBHOOK_TIMEOUT = 15
#: Retries of a webhook whose connection failed (reset, refused, closed without an answer):
#: Twilio's default connection override ``rc`` is 1. A timeout is not retried.
CONNECTION_RETRIES = 1


@dataclass
class WebhookResponse:
    """What a webhook answered."""

    status: int
    content_type: str
    text: str


class Transport(Protocol):
    """Sends one signed webhook request."""

    def send(
        self, method: str, url: str, params: dict[str, str], signature: str
    ) -> WebhookResponse:
        """Send ``params`` to ``url`` with X-Twilio-Signature ``signature``."""
        ...


def sign(auth_token: str, method: str, url: str, params: dict[str, str]) -> tuple[str, str]:
    """The URL to request and its X-Twilio-Signature, as Twilio computes them: the full URL
    plus, for POST, every form parameter (for GET the parameters are in the query string)."""
    validator = RequestValidator(auth_token)
    if method == "GET":
        sep = "&" if "?" in url else "?"
        url = url + sep + urlencode(params) if params else url
        return url, str(validator.compute_signature(url, {}))
    return url, str(validator.compute_signature(url, params))


class WebhookTimeout(requests.Timeout):
    """The webhook did not answer within the timeout (Twilio's error 11205)."""


class HttpTransport:
    """Real HTTP requests (requests), optionally to another address than the signed one."""

    def __init__(
        self, public_base: str, connect_to: str | None = None, timeout: float = WEBHOOK_TIMEOUT
    ) -> None:
        self.public_base = public_base.rstrip("/")
        self.connect_to = connect_to.rstrip("/") if connect_to else None
        #: Real seconds to wait for an answer (connect and read).
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session  # type: ignore[no-any-return]

    def send(
        self, method: str, url: str, params: dict[str, str], signature: str
    ) -> WebhookResponse:
        """Send the request; the signature stays the one computed for the public URL."""
        target = url
        if self.connect_to and url.startswith(self.public_base):
            target = self.connect_to + url[len(self.public_base) :]
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        for attempt in range(CONNECTION_RETRIES + 1):
            try:
                if method == "GET":
                    r = self._session().get(target, headers=headers, timeout=self.timeout)
                else:
                    r = self._session().post(
                        target, data=params, headers=headers, timeout=self.timeout
                    )
                break
            except requests.ReadTimeout as exc:
                # Twilio gives up on a webhook that is too slow and does not retry it.
                raise WebhookTimeout(str(exc)) from exc
            except requests.ConnectionError:
                # A kept-alive connection the server had just closed, or a reset: retry
                # once on a fresh connection, as Twilio does.
                self._local.session = requests.Session()
                if attempt == CONNECTION_RETRIES:
                    raise
        return WebhookResponse(r.status_code, r.headers.get("Content-Type", ""), r.text)


class WsgiTransport:
    """Calls a WSGI app in this process (no server), with the host and scheme of the URL."""

    def __init__(self, app: Any, timeout: float = WEBHOOK_TIMEOUT) -> None:
        self.app = app
        #: An answer later than this (real seconds) counts as none: the app is not
        #: interrupted (nor is a real server when Twilio gives up), its answer is dropped.
        self.timeout = timeout

    def send(
        self, method: str, url: str, params: dict[str, str], signature: str
    ) -> WebhookResponse:
        """Run the request through the app."""
        parts = urlsplit(url)
        started = time.monotonic()
        client = Client(self.app)
        response = client.open(
            parts.path + (f"?{parts.query}" if parts.query else ""),
            base_url=f"{parts.scheme}://{parts.netloc}",
            method=method,
            data=params if method != "GET" else None,
            headers={"X-Twilio-Signature": signature},
        )
        if time.monotonic() - started > self.timeout:
            raise WebhookTimeout(f"no answer within {self.timeout} s")
        return WebhookResponse(
            response.status_code,
            response.headers.get("Content-Type", ""),
            response.get_data(as_text=True),
        )
