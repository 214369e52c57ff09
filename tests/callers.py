"""A phone caller driving our IVR the way Twilio would: ``caller.dials()``,
``caller.presses("2")``, ``caller.waits()`` (no input), ``caller.hangs_up()``."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlparse
from xml.etree import ElementTree

from tests.conftest import ACCOUNT_SID, PUBLIC_BASE_URL, Twilio, parse_twiml

HOTLINE = "+18004927848"
_sids = itertools.count(1)


class Caller:
    """One inbound call: remembers the last TwiML and follows its Gather and Redirect."""

    def __init__(self, twilio: Twilio, number: str | None = "+12125550147", call_sid: str = ""):
        self.twilio = twilio
        self.number = number
        self.call_sid = call_sid or f"CA{next(_sids):032x}"
        self.twiml: ElementTree.Element | None = None

    def params(self, **extra: str) -> dict[str, str]:
        """The form Twilio posts for this call (From left out when None)."""
        form = {
            "CallSid": self.call_sid,
            "AccountSid": ACCOUNT_SID,
            "To": HOTLINE,
            "Direction": "inbound",
            "CallStatus": "in-progress",
        }
        if self.number is not None:
            form["From"] = self.number
        form.update(extra)
        return form

    def dials(self) -> ElementTree.Element:
        """The call reaches the Voice URL."""
        return self._post("/twilio/voice", self.params(CallStatus="ringing"))

    def presses(self, digits: str) -> ElementTree.Element:
        """Keys pressed at the current menu (posted to the Gather's action)."""
        return self._post(self._path(self.gather.get("action")), self.params(Digits=digits))

    def waits(self) -> ElementTree.Element:
        """No key pressed: Twilio falls through the Gather to the Redirect."""
        redirect = self._document.find("Redirect")
        assert redirect is not None, "no Redirect after the Gather"
        assert redirect.get("method") == "POST"
        return self._post(self._path(redirect.text), self.params())

    def hangs_up(self, status: str = "completed") -> Any:
        """The inbound call's status callback."""
        response = self.twilio.post("/twilio/status", self.params(CallStatus=status))
        assert response.status_code == 200, response.data
        return response

    def answers(self, *keys: str) -> ElementTree.Element:
        """Press each key (or key sequence) in turn."""
        for key in keys:
            self.presses(key)
        return self._document

    # --- what the caller hears ------------------------------------------------------

    @property
    def gather(self) -> ElementTree.Element:
        """The current menu."""
        gather = self._document.find("Gather")
        assert gather is not None, f"no menu: {self.said}"
        return gather

    @property
    def step(self) -> str | None:
        """The IVR step the current menu answers, or None when the call is ending."""
        gather = self._document.find("Gather")
        if gather is None:
            return None
        return urlparse(self._path(gather.get("action"))).path.rsplit("/", 1)[-1]

    @property
    def says(self) -> list[ElementTree.Element]:
        """Every Say, in order, inside the menu or not."""
        return list(self._document.iter("Say"))

    @property
    def said(self) -> str:
        """Everything said, as one string."""
        return " ".join(say.text or "" for say in self.says)

    @property
    def languages(self) -> set[str | None]:
        """The language attribute of every Say."""
        return {say.get("language") for say in self.says}

    @property
    def hung_up(self) -> bool:
        """Whether the last TwiML ends the call."""
        verbs = [child.tag for child in self._document]
        return bool(verbs) and verbs[-1] == "Hangup"

    # --- internals --------------------------------------------------------------------

    @property
    def _document(self) -> ElementTree.Element:
        assert self.twiml is not None, "the caller has not dialed"
        return self.twiml

    def _post(self, path: str, params: dict[str, str]) -> ElementTree.Element:
        self.twiml = parse_twiml(self.twilio.post(path, params))
        return self.twiml

    @staticmethod
    def _path(url: str | None) -> str:
        """What Twilio requests: the URL's path and query (the lead a step URL names)."""
        assert url and url.startswith(PUBLIC_BASE_URL + "/twilio/"), url
        parts = urlparse(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")
