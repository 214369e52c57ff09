"""Logging set-up with a filter that masks anything shaped like a phone number."""

from __future__ import annotations

import logging

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


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr with numbers redacted, for every logger."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactPhoneNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
