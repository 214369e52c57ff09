"""What the real world does to a call center that the stand-in does only when told: callbacks
lost, repeated or late, slow webhooks given up on, an account that may not call, a cap on calls.

Every knob is off by default (the stand-in then behaves as it always did). Each one imitates
something Twilio documents can happen; see docs/twilio-standin.md, "Playing the real world".
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

from twilio_standin.transport import WEBHOOK_TIMEOUT

#: Twilio's default read timeout for a webhook, in seconds (then error 11205).
DEFAULT_WEBHOOK_TIMEOUT = float(WEBHOOK_TIMEOUT)

# --- Account-level REST errors (http status, Twilio code, message) ---------------------

#: 21210: the From number is not a Twilio number or verified caller ID of the account.
UNVERIFIED_FROM = (
    400,
    21210,
    "The source phone number provided, is not yet verified for your account. You may only "
    "make calls from phone numbers that you've verified or purchased from Twilio.",
)
#: 21215: Voice geographic permissions do not allow calling the To number.
GEO_PERMISSIONS = (
    400,
    21215,
    "Account not authorized to call this number. Check the Voice Geographic Permissions "
    "settings of your account.",
)
#: 20003: the credentials are refused (a rotated token, a suspended account).
AUTHENTICATE = (401, 20003, "Authenticate")
#: 21219: a trial account may only call verified numbers.
TRIAL_UNVERIFIED_TO = (
    400,
    21219,
    "The number is unverified. Trial accounts cannot call unverified numbers; verify it "
    "or purchase a Twilio number.",
)
#: 20429: too many requests (the account's limits).
TOO_MANY_REQUESTS = (429, 20429, "Too Many Requests")
#: The errors above by code, for the control API ({"account_error": 21210}).
ACCOUNT_ERRORS: dict[int, tuple[int, int, str]] = {
    error[1]: error
    for error in (
        UNVERIFIED_FROM,
        GEO_PERMISSIONS,
        AUTHENTICATE,
        TRIAL_UNVERIFIED_TO,
        TOO_MANY_REQUESTS,
    )
}


@dataclass(frozen=True)
class Faults:
    """How unkind the stand-in is, per scenario (all off by default)."""

    #: Seed of the random choices below, so a scenario plays the same way again.
    seed: int = 0
    #: Probability that one status callback (call progress of any leg, the inbound
    #: number's status callback, an AMD result) is never delivered. TwiML requests never are.
    lose_status_callbacks: float = 0.0
    #: Probability that a status callback is delivered twice (same parameters).
    duplicate_status_callbacks: float = 0.0
    #: Most call-clock seconds a status callback may be late (uniform 0..max), delivered from
    #: its own thread so it can overtake or be overtaken. 0: in line, in order.
    delay_status_callbacks: float = 0.0
    #: Real seconds a webhook has to answer before it counts as failed (error 11205).
    webhook_timeout: float = DEFAULT_WEBHOOK_TIMEOUT
    #: (http status, Twilio code, message) every REST call create fails with while set.
    account_error: tuple[int, int, str] | None = None
    #: Most REST-created calls not yet ended; one more create is 429/20429. 0: no cap.
    max_concurrent_calls: int = 0

    def __post_init__(self) -> None:
        for name in ("lose_status_callbacks", "duplicate_status_callbacks"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability from 0 to 1")
        if self.delay_status_callbacks < 0:
            raise ValueError("delay_status_callbacks must be 0 or more seconds")
        if self.webhook_timeout <= 0:
            raise ValueError("webhook_timeout must be above 0 seconds")
        if self.max_concurrent_calls < 0:
            raise ValueError("max_concurrent_calls must be 0 (no cap) or more")
        if self.account_error is not None:
            status, code, message = self.account_error
            if not (400 <= int(status) <= 599 and isinstance(message, str)):
                raise ValueError("account_error: (http status 4xx/5xx, code, message)")
            # A list from JSON becomes the tuple the REST view expects.
            object.__setattr__(self, "account_error", (int(status), int(code), message))

    @classmethod
    def off(cls) -> Faults:
        """Twilio on a good day: nothing goes wrong."""
        return cls()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (control API)."""
        data = asdict(self)
        data["account_error"] = list(self.account_error) if self.account_error else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        """Build from JSON; ``account_error`` may be [status, code, message] or a known code.
        Raise ValueError on unknown fields or bad values."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}")
        error = data.get("account_error")
        if isinstance(error, int) and not isinstance(error, bool):
            if error not in ACCOUNT_ERRORS:
                raise ValueError(f"account_error: no preset for code {error}")
            error = ACCOUNT_ERRORS[error]
        elif error is not None:
            if not isinstance(error, list | tuple) or len(error) != 3:
                raise ValueError("account_error: [http status, code, message] or a code")
            error = (int(error[0]), int(error[1]), str(error[2]))
        try:
            return cls(
                seed=int(data.get("seed", 0)),
                lose_status_callbacks=float(data.get("lose_status_callbacks", 0.0)),
                duplicate_status_callbacks=float(data.get("duplicate_status_callbacks", 0.0)),
                delay_status_callbacks=float(data.get("delay_status_callbacks", 0.0)),
                webhook_timeout=float(data.get("webhook_timeout", DEFAULT_WEBHOOK_TIMEOUT)),
                account_error=error,
                max_concurrent_calls=int(data.get("max_concurrent_calls", 0)),
            )
        except TypeError as exc:
            raise ValueError(str(exc)) from exc


class Dice:
    """The seeded random choices behind the faults, shared by every call's thread."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def chance(self, probability: float) -> bool:
        """True with ``probability``; 0 and 1 are certain (and draw nothing)."""
        if probability <= 0.0:
            return False
        if probability >= 1.0:
            return True
        with self._lock:
            return self._rng.random() < probability

    def upto(self, most: float) -> float:
        """A uniform amount from 0 to ``most``."""
        if most <= 0.0:
            return 0.0
        with self._lock:
            return self._rng.uniform(0.0, most)
