"""Running calls the way Twilio does: ring, answer (with answering-machine detection), fetch
TwiML from our webhooks with valid signatures, execute it verb by verb, report status.

One thread per call leg. A leg's person (phones.Script) decides whether it answers and what
it presses; REST updates and hang-ups interrupt it through ``Call.wake``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin
from xml.etree import ElementTree

import requests

from twilio_standin.calls import API_VERSION, Call, new_sid, rfc2822
from twilio_standin.phones import ANSWERS, HANG_UP, Person, Script
from twilio_standin.transport import WebhookResponse, sign

if TYPE_CHECKING:
    from twilio_standin.switchboard import Switchboard

log = logging.getLogger(__name__)

#: Words per second of <Say> (about 150 words a minute).
SAY_WORDS_PER_SECOND = 2.5
#: Seconds a <Play> lasts (we do not fetch audio).
PLAY_SECONDS = 5.0
#: Seconds answering-machine detection takes to decide (Enable / DetectMessageEnd).
AMD_SECONDS = {"Enable": 3.0, "DetectMessageEnd": 8.0}
#: Seconds asynchronous detection takes, by what it finds: a person's short "hello" is
#: known in about 2.5 s; a machine at its first words (Enable) or at the beep after its
#: greeting (DetectMessageEnd); "unknown" when it gives up (Twilio waits out
#: machineDetectionTimeout, 30 s by default: shortened here so scenarios stay short).
HUMAN_SECONDS = 2.5
UNKNOWN_SECONDS = 5.0
#: Most real seconds a parent waits on its dialed leg between looks. It is woken at once
#: when the dialed leg is bridged or ends, or a REST update comes (``Call.wake``), and at
#: its own deadlines; this is only a safety net (a 10 ms poll here once cost a core with a
#: few hundred callbacks talking).
IDLE_WAIT = 1.0
#: Most documents one call may fetch (a Redirect loop must end).
MAX_DOCUMENTS = 200
#: What Twilio says when a webhook fails (error 11200) before hanging up.
APPLICATION_ERROR = "An application error has occurred. Goodbye."


class Ended(Exception):
    """The leg is over: ``status`` is its final CallStatus."""

    def __init__(self, status: str = "completed", by: str = "twiml") -> None:
        super().__init__(status)
        self.status = status
        self.by = by


class Redirected(Exception):
    """A REST update sent the call to new TwiML."""

    def __init__(self, url: str | None, method: str, twiml: str | None) -> None:
        super().__init__(url)
        self.url, self.method, self.twiml = url, method, twiml


def _machine_answer(script: Script, detection: str | None) -> str:
    """AnsweredBy for a phone answered by ``script.answer`` under MachineDetection."""
    if script.answered_by:
        return script.answered_by
    if script.answer == "human":
        return "human"
    if script.answer == "machine":
        return "machine_end_beep" if detection == "DetectMessageEnd" else "machine_start"
    return script.answer  # fax | unknown


def amd_seconds(answered_by: str, detection: str | None) -> float:
    """Call seconds asynchronous detection takes to report ``answered_by``."""
    if answered_by == "human":
        return HUMAN_SECONDS
    if answered_by == "unknown":
        return UNKNOWN_SECONDS
    return AMD_SECONDS.get(detection or "", 3.0)


class Leg:
    """One call leg being run: its record, its person, and how to reach the hotline."""

    def __init__(self, standin: Switchboard, call: Call, script: Script) -> None:
        self.standin = standin
        self.call = call
        self.person = Person(script)
        standin.people[call.sid] = self.person
        self.clock = standin.clock
        #: Set once a dialed leg is connected to its parent.
        self.bridged = threading.Event()
        #: A dialed leg's parent's wake-up: set when this leg is bridged or ends.
        self.parent_wake: threading.Event | None = None
        #: Number-level attributes of a dialed leg (its whisper URL etc.).
        self.whisper: tuple[str, str] | None = None

    # --- Parameters and requests -------------------------------------------------------

    def params(self, **extra: str) -> dict[str, str]:
        """The parameters Twilio sends with every request about this call."""
        c = self.call
        p = {
            "AccountSid": c.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": c.sid,
            "CallStatus": c.status,
            "Called": c.to,
            "Caller": c.from_,
            "Direction": c.direction,
            "From": c.from_,
            "To": c.to,
        }
        if c.parent_call_sid:
            p["ParentCallSid"] = c.parent_call_sid
        if c.answered_by and c.machine_detection:
            p["AnsweredBy"] = c.answered_by
        p.update(extra)
        return p

    def request(
        self, url: str, method: str, params: dict[str, str], kind: str
    ) -> WebhookResponse | None:
        """Send a signed webhook; None when it could not be delivered or failed (>= 400)."""
        return self.send(url, method, params, kind)[0]

    def send(
        self, url: str, method: str, params: dict[str, str], kind: str
    ) -> tuple[WebhookResponse | None, dict[str, Any]]:
        """Send a signed webhook: its answer (None as in :meth:`request`) and its log entry."""
        entry: dict[str, Any] = {"event": "request", "kind": kind, "url": url}
        transport = self.standin.transport
        if transport is None:
            return None, entry
        method = "GET" if method.upper() == "GET" else "POST"
        full_url, signature = sign(self.standin.auth_token, method, url, params)
        entry["method"] = method
        body = params if method == "POST" else {}
        try:
            try:
                response = transport.send(method, full_url, body, signature)
            except requests.ConnectionError:
                # Twilio retries a request once when the connection itself fails.
                entry["retried"] = True
                response = transport.send(method, full_url, body, signature)
        except Exception as exc:  # Twilio sees a failed connection, not a crash
            entry["error"] = type(exc).__name__
            if isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectionError):
                # No answer in time: Twilio's 11205 (HTTP connection failure).
                entry["code"] = "11205"
            self.call.log.append(entry)
            self.standin.record_webhook_error(self.call, kind, url, None, type(exc).__name__)
            return None, entry
        entry["status"] = response.status
        self.call.log.append(entry)
        if response.status >= 400:
            self.standin.record_webhook_error(
                self.call, kind, url, response.status, response.text[:200]
            )
            return None, entry
        return response, entry

    def status_event(self, event: str, **extra: str) -> None:
        """POST the status callback for ``event`` if the call asked for it."""
        c = self.call
        if not c.status_callback or event not in c.status_callback_events:
            return
        params = self.params(
            CallbackSource="call-progress-events",
            SequenceNumber=str(c.sequence),
            Timestamp=rfc2822(self.clock.now()) or "",
            **extra,
        )
        # A lost callback still used its number: the next one shows the gap.
        c.sequence += 1
        self.callback(c.status_callback, c.status_callback_method, params, f"status:{event}")

    def callback(self, url: str, method: str, params: dict[str, str], kind: str) -> None:
        """Deliver a callback that only informs (status, AMD result) as the scenario's
        Faults say: perhaps never, twice, or late and out of order. TwiML is never lost."""
        standin = self.standin
        faults, dice = standin.faults, standin.dice
        if dice.chance(faults.lose_status_callbacks):
            self.call.log.append({"event": "lost", "kind": kind, "url": url})
            return
        copies = 2 if dice.chance(faults.duplicate_status_callbacks) else 1
        if faults.delay_status_callbacks <= 0:
            for _ in range(copies):
                self.request(url, method, params, kind)
            return
        for _ in range(copies):
            delay = dice.upto(faults.delay_status_callbacks)

            def late(delay: float = delay) -> None:
                self.clock.sleep(delay)
                self.request(url, method, params, kind)

            threading.Thread(target=late, name=f"late-{kind}", daemon=True).start()

    # --- Time and interruptions --------------------------------------------------------

    def check(self) -> None:
        """Act on a REST update or hang-up that arrived meanwhile."""
        c = self.call
        if not c.wake.is_set():
            return
        c.wake.clear()
        pending, c.pending = c.pending, None
        if pending is None:
            return
        if pending[0] == "hangup":
            raise Ended("completed", by="api")
        raise Redirected(pending[1], pending[2], pending[3])

    def wait(self, seconds: float) -> None:
        """Let call time pass, interruptibly."""
        self.check()
        if self.clock.sleep(seconds, self.call.wake):
            self.check()

    def prompt(self, seconds: float) -> bool:
        """A prompt inside a Gather plays for ``seconds`` of call time, unless a key pressed
        on the keypad stops it first, as on Twilio (True then). Scripted people press after
        the prompts."""
        if not self.person.script.interactive:
            self.wait(seconds)
            return False
        end = time.monotonic() + self.clock.real(seconds)
        while not self.person.has_keys():
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.check()
            if self.call.wake.wait(min(left, 0.05)):
                self.check()
        return True

    # --- Ringing and answering ---------------------------------------------------------

    def ring(self, timeout: float) -> str:
        """Ring the phone; the answer (human/machine/fax/unknown) or the unanswered status.

        A hang-up from the REST API while ringing cancels the call."""
        c = self.call
        script = self.person.script
        c.status = "ringing"
        self.status_event("ringing")
        # A phone already on a call is engaged (no call waiting): the new call is busy.
        engaged = bool(self.standin.registry.active_to(c.to, excluding=c.sid))
        try:
            if engaged or script.answer in ("busy", "failed"):
                self.wait(1.0)
                return "busy" if engaged else script.answer
            if script.answer == "no-answer" or script.ring_seconds >= timeout:
                self.wait(timeout)
                return "no-answer"
            self.wait(script.ring_seconds)
        except Ended:
            return "canceled"
        except Redirected:
            # A ringing call redirected by REST starts with the new TwiML once answered.
            pass
        return script.answer

    def answered(self) -> None:
        """The phone was picked up: in-progress, AMD decided (synchronous detection)."""
        c = self.call
        c.status = "in-progress"
        c.start_time = self.clock.now()
        if c.machine_detection and not c.async_amd:
            c.answered_by = _machine_answer(self.person.script, c.machine_detection)
        self.status_event("answered")

    def finish(self, status: str) -> None:
        """The leg ends with ``status``: duration, the completed callback, done."""
        c = self.call
        if c.is_final:
            return
        c.end_time = self.clock.now()
        c.duration = int(round(c.end_time - c.start_time)) if c.start_time else 0
        c.status = status
        c.log.append({"event": "ended", "status": status})
        extra = {}
        if status == "failed" and self.person.script.error_code:
            extra["ErrorCode"] = self.person.script.error_code
        self.status_event(
            "completed",
            CallDuration=str(c.duration),
            Duration=str((c.duration + 59) // 60),
            **extra,
        )
        c.done.set()
        if self.parent_wake is not None:
            self.parent_wake.set()

    # --- TwiML -------------------------------------------------------------------------

    def run_twiml(
        self,
        url: str | None,
        method: str = "POST",
        extra: dict[str, str] | None = None,
        twiml: str | None = None,
    ) -> None:
        """Fetch and run documents until one ends (Twilio then hangs up) or the call ends."""
        documents = 0
        while True:
            documents += 1
            if documents > MAX_DOCUMENTS:
                raise Ended("completed")
            try:
                if twiml is not None:
                    root, doc_url = self.parse(twiml), url or ""
                else:
                    assert url is not None
                    root, doc_url = self.fetch(url, method, extra or {}), url
                following = self.run_verbs(root, doc_url)
            except Redirected as redirect:
                url, method, twiml, extra = redirect.url, redirect.method, redirect.twiml, None
                continue
            if following is None:
                return
            url, method, extra = following
            twiml = None

    def parse(self, text: str) -> ElementTree.Element:
        """A TwiML document; a broken one is an application error (12100)."""
        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError:
            self.application_error("12100 document parse failure")
        if root.tag != "Response":
            self.application_error("12100 root element is not <Response>")
        return root

    def fetch(self, url: str, method: str, extra: dict[str, str]) -> ElementTree.Element:
        """Request TwiML from ``url`` with the call's parameters."""
        self.check()
        response, entry = self.send(url, method, self.params(**extra), "twiml")
        if response is None:
            if entry.get("code") == "11205":
                self.application_error("11205 HTTP connection failure")
            self.application_error("11200 HTTP retrieval failure")
        assert response is not None
        return self.parse(response.text)

    def application_error(self, why: str) -> None:
        """What Twilio does when our TwiML cannot be had: apologise and hang up."""
        self.call.log.append({"event": "error", "detail": why})
        self.call.log.append({"event": "say", "text": APPLICATION_ERROR, "language": "en-US"})
        raise Ended("completed", by="error")

    def run_verbs(
        self, root: ElementTree.Element, doc_url: str
    ) -> tuple[str, str, dict[str, str] | None] | None:
        """Execute a document's verbs; where to go next, or None at its end."""
        for verb in root:
            self.check()
            following = self.run_verb(verb, doc_url)
            if following is not None:
                return following
        return None

    def run_verb(
        self, verb: ElementTree.Element, doc_url: str
    ) -> tuple[str, str, dict[str, str] | None] | None:
        """One verb; returns the next document to fetch when the verb moves the call on."""
        tag = verb.tag
        if self.call.direction == "inbound" and self.call.status == "ringing" and tag != "Reject":
            # Twilio answers an inbound call with its first verb other than <Reject>.
            self.answered()
        if tag == "Say":
            self.say(verb)
        elif tag == "Play":
            self.call.log.append({"event": "play", "url": (verb.text or "").strip()})
            self.wait(PLAY_SECONDS * max(1, int(verb.get("loop", "1") or 1)))
        elif tag == "Pause":
            self.wait(float(verb.get("length", "1")))
        elif tag == "Gather":
            return self.gather(verb, doc_url)
        elif tag == "Redirect":
            target = urljoin(doc_url, (verb.text or "").strip())
            return target, verb.get("method", "POST").upper(), None
        elif tag == "Hangup":
            self.call.log.append({"event": "hangup"})
            raise Ended("completed")
        elif tag == "Reject":
            self.call.log.append({"event": "reject", "reason": verb.get("reason", "rejected")})
            raise Ended("busy" if verb.get("reason") == "busy" else "no-answer")
        elif tag == "Dial":
            return self.dial(verb, doc_url)
        else:
            self.call.log.append({"event": "unsupported", "verb": tag})
        return None

    def say(self, verb: ElementTree.Element) -> None:
        """<Say>: recorded with its language and voice; takes time to speak."""
        self.wait(self.start_saying(verb))

    def start_saying(self, verb: ElementTree.Element) -> float:
        """Record a <Say>; the call seconds it takes to speak."""
        text = " ".join((verb.text or "").split())
        loops = max(1, int(verb.get("loop", "1") or 1))
        self.call.log.append(
            {
                "event": "say",
                "text": text,
                "language": verb.get("language", "en-US"),
                "voice": verb.get("voice", "man"),
            }
        )
        return loops * len(text.split()) / SAY_WORDS_PER_SECOND

    def gather(
        self, verb: ElementTree.Element, doc_url: str
    ) -> tuple[str, str, dict[str, str] | None] | None:
        """<Gather> (DTMF): nested prompts, then the person's keys; submits to ``action``
        or, with no input, falls through to the next verb (Twilio's defaults throughout)."""
        timeout = float(verb.get("timeout", "5"))
        finish_on_key = verb.get("finishOnKey", "#")
        num_digits = int(verb.get("numDigits", "0") or 0)
        action = urljoin(doc_url, verb.get("action", "") or doc_url)
        method = verb.get("method", "POST").upper()
        on_empty = verb.get("actionOnEmptyResult", "false").lower() == "true"
        for child in verb:
            self.check()
            if child.tag == "Say":
                seconds = self.start_saying(child)
            elif child.tag == "Play":
                self.call.log.append({"event": "play", "url": (child.text or "").strip()})
                seconds = PLAY_SECONDS
            elif child.tag == "Pause":
                seconds = float(child.get("length", "1"))
            else:
                continue
            if self.prompt(seconds):
                break  # the first key stops the prompts and goes to the Gather
        self.call.log.append({"event": "gather", "timeout": timeout, "numDigits": num_digits})
        # A person at the keypad also has to read the prompt: give them some slack.
        pressed = self.person.gather(
            self.clock.real(timeout) + 10 * self.person.script.interactive,
            self.call.wake,
            num_digits,
            finish_on_key,
        )
        self.check()
        if pressed == HANG_UP:
            self.call.log.append({"event": "person-hung-up"})
            raise Ended("completed", by="person")
        digits, finished = "", ""
        taken = 0
        for key in pressed or "":
            taken += 1
            if finish_on_key and key == finish_on_key:
                finished = key
                break
            digits += key
            if num_digits and len(digits) >= num_digits:
                break
        if pressed and taken < len(pressed):
            # Keys beyond what this Gather takes wait for the next one (Twilio buffers them).
            self.person.buffer(pressed[taken:])
        if pressed:
            self.call.log.append({"event": "digits", "digits": pressed[:taken]})
        if not finished and not (num_digits and len(digits) >= num_digits):
            # Nothing pressed, or digits without an end: Twilio waits out the timeout
            # (counted from the last key) before falling through or submitting.
            self.wait(timeout)
        if not digits and not on_empty:
            return None  # falls through to the next verb
        extra = {"Digits": digits}
        if finished:
            extra["FinishedOnKey"] = finished
        return action, method, extra

    # --- Dial --------------------------------------------------------------------------

    def dial(
        self, verb: ElementTree.Element, doc_url: str
    ) -> tuple[str, str, dict[str, str] | None] | None:
        """<Dial><Number>: ring the number (timeout 30 s), run its whisper ``url`` on the
        called leg, bridge, and report DialCallStatus to ``action`` when the dialed leg ends.
        Only the first <Number> is dialed."""
        numbers = [n for n in verb if n.tag == "Number"]
        number_el = numbers[0] if numbers else None
        target = " ".join(((number_el.text if number_el is not None else verb.text) or "").split())
        timeout = float(verb.get("timeout", "30"))
        action = verb.get("action")
        method = verb.get("method", "POST").upper()
        attrs = number_el.attrib if number_el is not None else {}
        events = tuple((attrs.get("statusCallbackEvent") or "completed").split())
        child = Call(
            sid=new_sid(),
            account_sid=self.call.account_sid,
            to=target,
            from_=verb.get("callerId") or self.call.from_,
            direction="outbound-dial",
            created_at=self.clock.now(),
            parent_call_sid=self.call.sid,
            url=urljoin(doc_url, attrs["url"]) if attrs.get("url") else None,
            method=attrs.get("method", "POST").upper(),
            status_callback=urljoin(doc_url, attrs["statusCallback"])
            if attrs.get("statusCallback")
            else None,
            status_callback_method=attrs.get("statusCallbackMethod", "POST").upper(),
            status_callback_events=events,
            timeout=int(timeout),
            machine_detection=attrs.get("machineDetection") or None,
            # <Number>'s detection never holds up its url: the result goes to
            # amdStatusCallback (or only to the Call resource without one, warning 21262).
            async_amd=bool(attrs.get("machineDetection")),
            async_amd_callback=urljoin(doc_url, attrs["amdStatusCallback"])
            if attrs.get("amdStatusCallback")
            else None,
            async_amd_callback_method=attrs.get("amdStatusCallbackMethod", "POST").upper(),
        )
        self.call.log.append({"event": "dial", "child": child.sid})
        self.standin.register_leg(child)
        leg = Leg(self.standin, child, self.standin.phones.script_for(target))
        leg.parent_wake = self.call.wake  # check() below clears it
        thread = threading.Thread(target=leg.run_dialed, name=f"leg-{child.sid[:8]}", daemon=True)
        thread.start()
        parent_ended: Ended | None = None
        talk_deadline: float | None = None
        leaves = self.person.script.hang_up_in_dial_after
        # The person on this leg who gives up while the dialed phone rings (or mid-talk).
        leave_at = None if leaves is None else self.clock.now() + leaves
        while not child.done.is_set():
            if leg.bridged.is_set() and talk_deadline is None:
                talk_deadline = self.clock.now() + self.person.script.talk_seconds
            if leave_at is not None and self.clock.now() >= leave_at:
                self.call.log.append({"event": "person-hung-up"})
                parent_ended = Ended("completed", by="person")
            elif talk_deadline is not None and self.clock.now() >= talk_deadline:
                parent_ended = Ended("completed", by="person")
            else:
                try:
                    self.check()
                except Ended as ended:
                    parent_ended = ended
                except Redirected:
                    # A redirect takes the parent out of the Dial: the dialed leg hangs up.
                    self.hang_up_leg(child)
                    child.done.wait(5)
                    raise
            if parent_ended is not None:
                self.hang_up_leg(child)
                child.done.wait(5)
                break
            deadlines = [d for d in (talk_deadline, leave_at) if d is not None]
            until = self.clock.real(min(deadlines) - self.clock.now()) if deadlines else IDLE_WAIT
            # check() may have cleared a wake-up the dialed leg gave: look before waiting.
            if not child.done.is_set() and (talk_deadline is not None or not leg.bridged.is_set()):
                self.call.wake.wait(min(until, IDLE_WAIT))
        thread.join(timeout=5)
        # A whisper that hangs up leaves the dialed leg "completed" without a bridge
        # (DialBridged tells the two apart).
        dial_status = child.status
        result = {
            "DialCallStatus": dial_status,
            "DialCallSid": child.sid,
            "DialBridged": "true" if leg.bridged.is_set() else "false",
        }
        if child.start_time is not None:
            result["DialCallDuration"] = str(child.duration or 0)
        if child.status == "failed" and leg.person.script.error_code:
            # Why the dialed leg failed, as Twilio reports it (for example 13224).
            result["ErrorCode"] = leg.person.script.error_code
        if action:
            # Twilio requests the action even when the caller hung up; TwiML it returns then
            # has no call to run on.
            target_url = urljoin(doc_url, action)
            if parent_ended is not None:
                self.request(
                    target_url,
                    method,
                    self.params(**result, CallStatus=parent_ended.status),
                    "dial-action",
                )
                raise parent_ended
            return target_url, method, result
        if parent_ended is not None:
            raise parent_ended
        return None

    def hang_up_leg(self, leg_call: Call) -> None:
        """Ask another leg (the dialed one) to hang up."""
        if not leg_call.is_final:
            leg_call.pending = ("hangup", "completed")
            leg_call.wake.set()

    # --- Whole legs --------------------------------------------------------------------

    def run_outbound(self) -> None:
        """A call created through the REST API."""
        c = self.call
        try:
            self.status_event("initiated")
            outcome = self.ring(float(c.timeout))
            if outcome not in ANSWERS:
                self.finish(outcome)
                return
            self.answered()
            if c.machine_detection and c.async_amd:
                self.start_async_amd()
            elif c.machine_detection:
                self.wait(AMD_SECONDS.get(c.machine_detection, 3.0))
            self.run_twiml(c.url, c.method, twiml=c.twiml)
            self.finish("completed")
        except Ended as ended:
            self.finish(ended.status)
        except Exception:  # a stand-in bug must not leave a call hanging
            log.exception("stand-in failed running %s", c.sid)
            self.finish("failed")

    def start_async_amd(self) -> None:
        """AsyncAmd: TwiML starts at once; AnsweredBy arrives later at its own callback
        (REST AsyncAmd=true, and always for <Dial><Number machineDetection>)."""
        c = self.call
        answered_by = _machine_answer(self.person.script, c.machine_detection)
        seconds = amd_seconds(answered_by, c.machine_detection)

        def report() -> None:
            self.clock.sleep(seconds, c.done)
            c.answered_by = answered_by
            c.log.append({"event": "amd", "answered_by": answered_by})
            if c.async_amd_callback and not c.is_final:
                self.callback(
                    c.async_amd_callback,
                    c.async_amd_callback_method,
                    self.params(
                        AnsweredBy=answered_by, MachineDetectionDuration=str(int(seconds * 1000))
                    ),
                    "amd",
                )

        threading.Thread(target=report, name=f"amd-{c.sid[:8]}", daemon=True).start()

    def run_dialed(self) -> None:
        """A leg dialed by <Dial><Number>: ring, answer, whisper, then talk until a hang-up."""
        c = self.call
        try:
            self.status_event("initiated")
            outcome = self.ring(float(c.timeout))
            if outcome not in ANSWERS:
                self.finish(outcome)
                return
            self.answered()
            if c.machine_detection:
                self.start_async_amd()
            if c.url:
                self.run_twiml(c.url, c.method)
            self.bridged.set()
            if self.parent_wake is not None:
                self.parent_wake.set()
            c.log.append({"event": "bridged", "with": c.parent_call_sid})
            self.wait(self.person.script.talk_seconds)
            raise Ended("completed", by="person")
        except Ended as ended:
            self.finish(ended.status)
        except Redirected:
            self.finish("completed")
        except Exception:
            log.exception("stand-in failed running dialed leg %s", c.sid)
            self.finish("failed")

    def run_inbound(self) -> None:
        """A person calls the hotline number: its Voice URL, then its status callback."""
        c = self.call
        standin = self.standin
        hotline = standin.hotline_url or ""
        if standin.inbound_status_callback:
            c.status_callback = hotline + "/twilio/status"
        try:
            self.run_twiml(hotline + "/twilio/voice", "POST")
            status = "completed"
        except Ended as ended:
            status = ended.status
        except Exception:
            log.exception("stand-in failed running inbound %s", c.sid)
            status = "failed"
        if status == "completed" and c.start_time is None:
            status = "canceled"  # the caller hung up before anything answered
        self.finish(status)


def start_outbound(standin: Switchboard, call: Call) -> threading.Thread:
    """Run a REST-created call in its own thread."""
    leg = Leg(standin, call, standin.phones.script_for(call.to))
    thread = threading.Thread(target=leg.run_outbound, name=f"call-{call.sid[:8]}", daemon=True)
    thread.start()
    return thread


def start_inbound(standin: Switchboard, call: Call) -> threading.Thread:
    """Run an inbound call in its own thread."""
    leg = Leg(standin, call, standin.phones.script_for(call.from_))
    thread = threading.Thread(target=leg.run_inbound, name=f"in-{call.sid[:8]}", daemon=True)
    thread.start()
    return thread
