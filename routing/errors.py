"""The domain's exceptions, under one root, so a caller can catch every refusal of the domain
at once and each module still raises what says exactly what went wrong::

    HotlineError
     ├── InvalidNumber      the digits are not a phone number that can be called
     ├── CounselorError     a counselor's details are invalid (the message says which)
     ├── DispositionError   a disposition cannot be recorded (the message says why)
     └── ActionRefused      a supervisor action cannot be done now (shown as is)

Each is also a ``ValueError``: bad input, answered with a message (400 or 409), never a 500.
Configuration errors are not here: ``settings.SettingsError`` stops a process at start.
"""

from __future__ import annotations


class HotlineError(ValueError):
    """Something the domain refuses; the message is safe to show (no personal data)."""


class InvalidNumber(HotlineError):
    """The digits do not make a valid, callable phone number."""


class CounselorError(HotlineError):
    """A counselor's details are invalid; the message says which."""


class DispositionError(HotlineError):
    """The disposition cannot be recorded; the message says why."""


class ActionRefused(HotlineError):
    """A supervisor action cannot be done now; the message says why (shown as is)."""
