"""``python -m twilio_standin --port 5050 --hotline-url http://127.0.0.1:5000``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from typing import Any

from twilio_standin.clock import Clock
from twilio_standin.faults import Faults
from twilio_standin.server import StandIn
from twilio_standin.switchboard import DEFAULT_HOTLINE_NUMBER

#: Anything shaped like a phone number, plain or in a URL (``%2B1...``, ``%20``, ``+`` as a
#: space): 10-15 digits joined only by separators, not inside a longer word or id. Blunter
#: than Hotline's own redaction (``routing.phones.redact``), which the stand-in, Twilio's
#: double, does not import; a stand-in log may mask a little more than it needs to.
_NUMBER = re.compile(
    r"(?:(?<![^\W_])|(?<=%[0-9A-Fa-f]{2}))(?:\+|%(?:25)?2[Bb])?"
    r"\d(?:(?:[-.\s+()]|%(?:25)?2[0Bb89]){0,5}\d){9,14}(?![^\W_])"
)


class _MaskNumbers(logging.Filter):
    """No phone number in full in the stand-in's log lines (werkzeug's request lines carry
    the REST API's query strings, ``Calls.json?To=%2B1...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with numbers masked to their last two digits."""
        message = record.getMessage()
        masked = _NUMBER.sub(lambda m: "***" + re.sub(r"\D", "", m.group(0))[-2:], message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class _MaskingFormatter(logging.Formatter):
    """Masks numbers in tracebacks too (formatted after the filters ran)."""

    def formatException(self, ei: Any) -> str:  # logging's name
        """The traceback, masked."""
        text = super().formatException(ei)
        return _NUMBER.sub(lambda m: "***" + re.sub(r"\D", "", m.group(0))[-2:], text)


def _configure_logging() -> None:
    """Warnings and werkzeug's request lines to stderr, numbers masked."""
    handler = logging.StreamHandler()
    handler.setFormatter(_MaskingFormatter("%(asctime)s stand-in %(message)s"))
    handler.addFilter(_MaskNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Serve the stand-in until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m twilio_standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument(
        "--hotline-url",
        default=os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        help="the hotline's PUBLIC_BASE_URL: webhooks are signed for it and sent there",
    )
    parser.add_argument(
        "--connect-to",
        default=None,
        help="send webhooks here instead (a proxy in front of the hotline)",
    )
    parser.add_argument("--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID", ""))
    parser.add_argument("--auth-token", default=os.environ.get("TWILIO_AUTH_TOKEN", ""))
    parser.add_argument(
        "--hotline-number", default=os.environ.get("HOTLINE_NUMBER", DEFAULT_HOTLINE_NUMBER)
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="call time runs this many times faster than real time",
    )
    parser.add_argument(
        "--no-status-callback",
        action="store_true",
        help="do not POST {hotline}/twilio/status when an inbound call ends",
    )
    parser.add_argument(
        "--faults",
        default=None,
        metavar="JSON",
        help='how unkind to be, e.g. \'{"lose_status_callbacks": 0.1, "seed": 7}\' '
        "(see docs/twilio-standin.md; PUT /_standin/faults changes it later)",
    )
    args = parser.parse_args(argv)
    if not args.account_sid or not args.auth_token:
        parser.error("--account-sid and --auth-token (or TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN)")
    if args.speed <= 0:
        parser.error("--speed must be above 0")
    faults = None
    if args.faults:
        try:
            data = json.loads(args.faults)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            faults = Faults.from_dict(data)
        except ValueError as exc:
            parser.error(f"--faults: {exc}")
    _configure_logging()
    standin = StandIn(
        args.account_sid,
        args.auth_token,
        hotline_number=args.hotline_number,
        clock=Clock(args.speed),
        status_callback=not args.no_status_callback,
        host=args.host,
        port=args.port,
        faults=faults,
    )
    standin.connect(args.hotline_url, connect_to=args.connect_to)
    print(
        f"Twilio stand-in on http://{args.host}:{args.port} for {args.hotline_url}",
        file=sys.stderr,
        flush=True,
    )
    try:
        standin.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
