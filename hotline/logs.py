"""Logging set-up that masks anything shaped like a phone number: in the message (a filter)
and in tracebacks (the formatter).

One configuration (:func:`logging_config`) serves every Hotline process: ``hotline worker``
(RQ's loggers write through the root logger's handler), the app, and gunicorn's own error
and access logs in ``hotline web``, handed to gunicorn as its ``logconfig_dict``: the access
log prints the request line, and a URL can carry a number (``?To=%2B1...``).
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from routing.phones import redact

#: A line of the application's and gunicorn's error log.
LINE_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


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

    def formatStack(self, stack_info: str) -> str:  # logging's name
        """A ``stack_info`` block, masked."""
        return redact(super().formatStack(stack_info))


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` schema of every Hotline process: the root logger
    and gunicorn's error log to stderr, gunicorn's access log to stdout, each handler
    behind the redaction filter and formatter."""

    def handler(stream: str, formatter: str) -> dict[str, Any]:
        return {
            "class": "logging.StreamHandler",
            "stream": stream,
            "formatter": formatter,
            "filters": ["redact"],
        }

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactPhoneNumbers}},
        "formatters": {
            "line": {"()": RedactingFormatter, "fmt": LINE_FORMAT},
            # gunicorn's access line carries its own time (access_log_format).
            "access": {"()": RedactingFormatter, "fmt": "%(message)s"},
        },
        "handlers": {
            "stderr": handler("ext://sys.stderr", "line"),
            "access": handler("ext://sys.stdout", "access"),
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr with numbers redacted, for every logger."""
    logging.config.dictConfig(logging_config(level))
