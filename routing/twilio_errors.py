"""What Twilio's error codes mean for a callback: whose problem it is, and what to do.

- ``NUMBER``: the number called is wrong or cannot be called (blame that number: the
  counselor's, who goes offline, or the caller's, whose lead fails).
- ``ACCOUNT``: the account or its set-up is at fault (credentials, an unverified caller ID,
  geographic permissions, trial limits). Every call would fail the same way, so dialing is
  paused for everyone, the lead goes back in line and no counselor is blamed.
- ``TRANSIENT``: try again later (rate limits, Twilio's 5xx, a carrier that could not
  deliver the call this time).

Codes: https://www.twilio.com/docs/api/errors (REST create errors are 2xxxx, call progress
errors reported on a finished call are 13xxx).
"""

from __future__ import annotations

from enum import StrEnum


class Blame(StrEnum):
    """Whose problem an error is."""

    NUMBER = "number"
    ACCOUNT = "account"
    TRANSIENT = "transient"


#: REST create: the To number is invalid, unreachable or not a phone that can be called.
NUMBER_CODES = frozenset({21211, 21214, 21216, 21217, 21401, 21421, 13223})
#: Problems of the account or its configuration: nothing dials until they are fixed.
ACCOUNT_CODES = frozenset(
    {
        20003,  # authentication failed (wrong SID or token)
        20005,  # account not active (suspended or closed)
        21210,  # the From number is not a verified caller ID of the account
        21212,  # the From number is invalid
        21213,  # no From number
        21215,  # geographic permissions do not allow calling this region
        21219,  # trial account: the To number is not verified
        13214,  # Dial: invalid callerId
        13227,  # Dial: geographic permissions do not allow this call
    }
)
#: Worth another try soon: rate and concurrency limits, a carrier that did not connect.
TRANSIENT_CODES = frozenset({20429, 13224, 13225})

#: What a supervisor should do about an account-level error, shown on the dashboard.
WHAT_TO_DO = {
    20003: "Check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
    20005: "The Twilio account is not active: contact Twilio or the account owner.",
    21210: "Verify the callback caller ID in Twilio, or set a number the account owns.",
    21212: "The callback caller ID is not a valid number: check HOTLINE_NUMBER.",
    21213: "No callback caller ID is set: check HOTLINE_NUMBER.",
    21215: "Enable the destination country in Twilio's voice geographic permissions.",
    21219: "A trial account may call verified numbers only: upgrade the account.",
    13214: "The callback caller ID is rejected: check HOTLINE_NUMBER.",
    13227: "Enable the destination country in Twilio's voice geographic permissions.",
}


def blame_rest(http_status: int, code: int | None) -> Blame:
    """Whose problem a refused REST request is (by Twilio's code, else its HTTP status)."""
    if http_status == 429 or http_status >= 500 or code in TRANSIENT_CODES:
        return Blame.TRANSIENT
    if code in NUMBER_CODES:
        return Blame.NUMBER
    # Unknown 4xx: pausing costs a minute and shows on the dashboard; blaming a counselor
    # for the account's problem would take the whole floor offline one by one.
    return Blame.ACCOUNT


def blame_call(code: str) -> Blame:
    """Whose problem a failed call leg is (the ErrorCode of a status callback or Dial)."""
    value = int(code) if code.isascii() and code.isdigit() else None
    if value in NUMBER_CODES:
        return Blame.NUMBER
    if value in ACCOUNT_CODES:
        return Blame.ACCOUNT
    return Blame.TRANSIENT


def what_to_do(code: int) -> str:
    """Advice for the dashboard banner."""
    return WHAT_TO_DO.get(code, f"See https://www.twilio.com/docs/api/errors/{code}.")
