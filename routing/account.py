"""Account-level trouble with Twilio: dialing paused for everyone for a while.

When Twilio refuses a call for a reason of the account (see :mod:`routing.twilio_errors`),
every other call would fail the same way. Matching stops making offers until the pause
ends; the first call after it tells whether the problem is gone (it pauses again if not),
so nobody has to remember to resume. The supervisor dashboard shows the pause as a banner.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from redis import Redis

from routing import keys
from routing.twilio_errors import what_to_do

#: Seconds dialing stays paused after an account-level error.
PAUSE_SECONDS = 30
#: Seconds the last account error stays on the dashboard after the pause ends.
SHOWN_SECONDS = 3600


@dataclass(frozen=True)
class AccountTrouble:
    """The last account-level error, and until when dialing is paused for it."""

    code: int
    message: str
    at: float
    paused_until: float

    @property
    def advice(self) -> str:
        """What a supervisor should do."""
        return what_to_do(self.code)

    def paused(self, now: float | None = None) -> bool:
        """Whether dialing is still paused."""
        return (time.time() if now is None else now) < self.paused_until


def pause_dialing(
    r: Redis, code: int, message: str, seconds: float = PAUSE_SECONDS, now: float | None = None
) -> AccountTrouble:
    """Pause every dial for ``seconds`` and remember why (the message has no number in it)."""
    now = time.time() if now is None else now
    trouble = AccountTrouble(code, message[:200], now, now + seconds)
    pipe = r.pipeline(transaction=True)
    pipe.set(keys.DIAL_PAUSED, "1", px=max(1, int(seconds * 1000)))
    pipe.set(keys.ACCOUNT_TROUBLE, json.dumps(trouble.__dict__), ex=SHOWN_SECONDS)
    pipe.execute()
    return trouble


def dialing_paused(r: Redis) -> bool:
    """Whether matching must make no offers now."""
    return bool(r.exists(keys.DIAL_PAUSED))


def last_trouble(r: Redis) -> AccountTrouble | None:
    """The last account-level error of the past hour, or None."""
    raw = r.get(keys.ACCOUNT_TROUBLE)
    if not raw:
        return None
    return AccountTrouble(**json.loads(raw))


def clear(r: Redis) -> None:
    """A call went through: the trouble is over."""
    r.delete(keys.DIAL_PAUSED, keys.ACCOUNT_TROUBLE)
