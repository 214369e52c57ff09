"""The Call resource as the stand-in keeps it: one record per leg, and the registry of them."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import phonenumbers

API_VERSION = "2010-04-01"
#: Statuses after which a call never changes again.
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def new_sid(prefix: str = "CA") -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(timestamp: float | None) -> str | None:
    """Twilio's date format in JSON ("Fri, 18 Oct 2019 17:00:00 +0000")."""
    return (
        None if timestamp is None else formatdate(timestamp, usegmt=False).replace("-0000", "+0000")
    )


def _formatted(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, "US")
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


@dataclass
class Call:
    """One call leg: what was asked for (create parameters) and what happened since."""

    sid: str
    account_sid: str
    to: str
    from_: str
    direction: str  # inbound | outbound-api | outbound-dial
    created_at: float
    status: str = "queued"
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ("completed",)
    timeout: int = 60
    machine_detection: str | None = None
    async_amd: bool = False
    async_amd_callback: str | None = None
    async_amd_callback_method: str = "POST"
    parent_call_sid: str | None = None
    #: Every parameter of the create request, as sent (lists for repeated ones).
    params: dict[str, Any] = field(default_factory=dict)
    answered_by: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    duration: int | None = None
    sequence: int = 0
    #: What happened on the call, in order: said text, digits pressed, requests made.
    log: list[dict[str, Any]] = field(default_factory=list)
    #: A pending REST update (("hangup", status) or ("redirect", url, method, twiml)).
    pending: tuple[Any, ...] | None = None
    #: Set to interrupt whatever the call is doing (a REST update, a hang-up).
    wake: threading.Event = field(default_factory=threading.Event)
    #: Set when the call reaches a final status.
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def is_final(self) -> bool:
        """Whether the call has ended."""
        return self.status in FINAL_STATUSES

    def said(self) -> list[str]:
        """Everything Twilio said on this leg (<Say> texts), in order."""
        return [e["text"] for e in self.log if e["event"] == "say"]

    def uri(self) -> str:
        """The resource's path, as Twilio gives it."""
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of Twilio's Call resource."""
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}"
        return {
            "sid": self.sid,
            "date_created": rfc2822(self.created_at),
            "date_updated": rfc2822(self.end_time or self.start_time or self.created_at),
            "parent_call_sid": self.parent_call_sid,
            "account_sid": self.account_sid,
            "to": self.to,
            "to_formatted": _formatted(self.to),
            "from": self.from_,
            "from_formatted": _formatted(self.from_),
            "phone_number_sid": None,
            "status": self.status,
            "start_time": rfc2822(self.start_time),
            "end_time": rfc2822(self.end_time),
            "duration": None if self.duration is None else str(self.duration),
            "price": None,
            "price_unit": "USD",
            "direction": self.direction,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": self.uri(),
            "subresource_uris": {
                name: f"{base}/{name.title().replace('_', '')}.json"
                for name in ("notifications", "recordings", "payments", "events", "siprec")
            },
        }


class CallRegistry:
    """Every call leg the stand-in knows, by SID, safe to use from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, Call] = {}
        #: Calls by the number they went to, those ended dropped whenever it is looked up:
        #: a busy hour holds tens of thousands of calls, and each dial asks about one number.
        self._to: dict[str, list[Call]] = {}

    def add(self, call: Call) -> None:
        """Remember a new call."""
        with self._lock:
            self._calls[call.sid] = call
            self._to.setdefault(call.to, []).append(call)

    def get(self, sid: str) -> Call | None:
        """A call by SID."""
        with self._lock:
            return self._calls.get(sid)

    def all(self) -> list[Call]:
        """Every call, oldest first."""
        with self._lock:
            return sorted(self._calls.values(), key=lambda c: c.created_at)

    def active_to(self, number: str, excluding: str | None = None) -> list[Call]:
        """Calls to ``number`` that have not ended."""
        with self._lock:
            live = [c for c in self._to.get(number, []) if not c.is_final]
            if live:
                self._to[number] = live
            else:
                self._to.pop(number, None)
            return [c for c in live if c.sid != excluding]
