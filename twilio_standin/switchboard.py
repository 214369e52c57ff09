"""The stand-in's switchboard: the state its REST and control views share with the calls it
runs (legs, phones, faults, where the hotline is) and the operations on it.

It knows nothing of Flask or of how a leg is run: the function that runs a leg is handed to it
(``twiml_runner.start_outbound`` and ``start_inbound``, by ``server.StandIn``), so the runner and
the views can depend on this module without it depending on them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from twilio_standin.calls import Call, CallRegistry, new_sid
from twilio_standin.clock import Clock
from twilio_standin.faults import Dice, Faults
from twilio_standin.phones import Person, Phonebook, Script
from twilio_standin.transport import HttpTransport, Transport, WsgiTransport

#: The hotline's own number (Hotline's HOTLINE_NUMBER default).
DEFAULT_HOTLINE_NUMBER = "+18004927848"

#: Starts running a leg on a switchboard (in its own thread) and returns at once.
StartLeg = Callable[["Switchboard", Call], object]


class Switchboard:
    """Calls, phones and faults of a local Twilio, and the operations its APIs offer.

    The voice side is off until :meth:`connect` (HTTP) or :meth:`attach` (a WSGI app in
    this process) says where the hotline is; until then calls are only recorded. Once it is
    on, a placed call is run by ``start_outbound`` and a call to the hotline number by
    ``start_inbound``.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        start_outbound: StartLeg,
        start_inbound: StartLeg,
        hotline_url: str | None = None,
        hotline_number: str = DEFAULT_HOTLINE_NUMBER,
        clock: Clock | None = None,
        status_callback: bool = True,
        faults: Faults | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.hotline_number = hotline_number
        self.clock = clock or Clock()
        #: Whether inbound calls to the hotline number POST /twilio/status when they end
        #: (the number's "call status changes" webhook in Twilio's console).
        self.inbound_status_callback = status_callback
        self.registry = CallRegistry()
        self.phones = Phonebook()
        self.transport: Transport | None = None
        self.hotline_url: str | None = None
        self._start_outbound = start_outbound
        self._start_inbound = start_inbound
        self._failures: deque[tuple[str, int, int, str]] = deque()
        self._lock = threading.Lock()
        #: Held while a create checks the concurrency cap and places the call.
        self._placing = threading.Lock()
        self._faults = Faults()
        self.dice = Dice(self._faults.seed)
        if faults is not None:
            self.set_faults(faults)
        #: Problems seen on the line (a number dialed twice at once, a webhook that failed).
        self.anomalies: list[str] = []
        self.webhook_errors: list[dict[str, Any]] = []
        #: The person on each running leg, by CallSid (the keypad of the try-it page).
        self.people: dict[str, Person] = {}
        if hotline_url:
            self.connect(hotline_url)

    # --- Where the hotline is ----------------------------------------------------------

    def connect(self, hotline_url: str, *, connect_to: str | None = None) -> None:
        """Run calls against the hotline at ``hotline_url`` (its PUBLIC_BASE_URL: requests are
        signed for it), optionally sending them to ``connect_to`` instead (a proxy's view)."""
        self.hotline_url = hotline_url.rstrip("/")
        self.transport = HttpTransport(self.hotline_url, connect_to)
        self._apply_webhook_timeout()

    def attach(self, app: Any, public_base_url: str) -> None:
        """Run calls against a WSGI app in this process, signed for ``public_base_url``."""
        self.hotline_url = public_base_url.rstrip("/")
        self.transport = WsgiTransport(app)
        self._apply_webhook_timeout()

    # --- Faults (how unkind the world is) ------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The scenario's faults (all off by default; see faults.Faults)."""
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.set_faults(faults)

    def set_faults(self, faults: Faults) -> None:
        """Play the world as ``faults`` say from now on (the dice start again from its seed)."""
        self._faults = faults
        self.dice = Dice(faults.seed)
        self._apply_webhook_timeout()

    def _apply_webhook_timeout(self) -> None:
        if isinstance(self.transport, HttpTransport | WsgiTransport):
            self.transport.timeout = self._faults.webhook_timeout

    @property
    def voice_enabled(self) -> bool:
        """Whether calls are executed (else only recorded)."""
        return self.transport is not None

    # --- REST-facing operations --------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Calls created through the REST API, oldest first, with their parameters."""
        return [c for c in self.registry.all() if c.direction == "outbound-api"]

    @property
    def legs(self) -> list[Call]:
        """Every call leg: inbound, REST-created and dialed, oldest first."""
        return self.registry.all()

    def fail_next(
        self,
        http_status: int,
        twilio_code: int,
        message: str,
        *,
        times: int = 1,
        operation: str = "create",
    ) -> None:
        """Make the next ``times`` REST ``operation``s fail like Twilio (create, list, fetch,
        update)."""
        with self._lock:
            for _ in range(times):
                self._failures.append((operation, http_status, twilio_code, message))

    def take_failure(self, operation: str) -> tuple[int, int, str] | None:
        """The next injected failure for ``operation``, if any (used by the REST views)."""
        with self._lock:
            for i, (op, status, code, message) in enumerate(self._failures):
                if op == operation:
                    del self._failures[i]
                    return status, code, message
        return None

    def register_leg(self, call: Call) -> None:
        """Record a new outgoing leg, noting a number dialed while already on a call."""
        with self._lock:
            overlapping = self.registry.active_to(call.to)
            self.registry.add(call)
            if overlapping:
                # Never a full number in a message: the last two digits identify it in tests.
                self.anomalies.append(
                    f"***{call.to[-2:]} dialed ({call.sid}) while {overlapping[0].sid} to it "
                    "was still live"
                )

    def record_webhook_error(
        self, call: Call, kind: str, url: str, status: int | None, detail: str
    ) -> None:
        """A webhook that failed (Twilio's debugger would show it)."""
        self.webhook_errors.append(
            {"call": call.sid, "kind": kind, "url": url, "status": status, "detail": detail}
        )

    def place_within_cap(self, call: Call) -> bool:
        """Place ``call`` unless the account already has ``max_concurrent_calls`` REST-created
        calls that have not ended (then False: the create is refused with 429)."""
        with self._placing:
            cap = self._faults.max_concurrent_calls
            if cap and sum(1 for c in self.calls if not c.is_final) >= cap:
                return False
            self.place(call)
            return True

    def place(self, call: Call) -> None:
        """Record a new call and, when the voice side is on, start running it."""
        self.register_leg(call)
        if self.voice_enabled:
            self._start_outbound(self, call)

    def hang_up(self, call: Call, status: str) -> None:
        """REST Status=completed|canceled: canceled ends only queued or ringing calls."""
        if call.is_final:
            return
        if status == "canceled" and call.status not in ("queued", "ringing"):
            return
        if not self.voice_enabled:
            # Nothing is running the call: it simply ends.
            ended = "canceled" if call.status in ("queued", "ringing") else "completed"
            self.finish_quietly(call, ended)
            return
        call.pending = ("hangup", status)
        call.wake.set()

    def redirect(self, call: Call, url: str | None, method: str, twiml: str | None) -> None:
        """REST Url/Twiml: the call leaves its current TwiML for the new one."""
        call.pending = ("redirect", url, method, twiml)
        call.wake.set()

    def finish_quietly(self, call: Call, status: str) -> None:
        """End a call that is not being run (voice side off)."""
        call.status = status
        call.end_time = self.clock.now()
        call.done.set()

    # --- Scripted people -----------------------------------------------------------------

    def phone(self, number: str, script: Script) -> None:
        """How the phone at ``number`` behaves when the stand-in rings it."""
        self.phones[number] = script

    def dial_in(self, from_: str, script: Script | None = None, *, to: str | None = None) -> Call:
        """A person at ``from_`` calls the hotline number and follows ``script``."""
        if not self.voice_enabled:
            raise RuntimeError("connect() or attach() the stand-in to a hotline first")
        call = Call(
            sid=new_sid(),
            account_sid=self.account_sid,
            to=to or self.hotline_number,
            from_=from_,
            direction="inbound",
            created_at=self.clock.now(),
            status="ringing",
        )
        if script is not None:
            self.phones[from_] = script
        self.registry.add(call)
        self._start_inbound(self, call)
        return call
