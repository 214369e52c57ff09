"""Logging set-up that masks anything shaped like a phone number: in the message (a filter)
and in tracebacks (the formatter)."""

from __future__ import annotations

import logging
from typing import Any

from routing.phones import redact


class RedactPhoneNumbers(logging.Filter):
    """Safety net: no phone number in full reaches any log line, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with numbers masked."""
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class RedactingFormatter(logging.Formatter):
    """Masks numbers in tracebacks: an exception's message (such as a REST error about a
    number) is formatted after the filters have run, so RedactPhoneNumbers cannot see it."""

    def formatException(self, ei: Any) -> str:  # logging's name
        """The traceback, masked."""
        return redact(super().formatException(ei))


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr with numbers redacted, for every logger."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactPhoneNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
