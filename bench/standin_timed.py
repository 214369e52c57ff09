"""The Twilio stand-in in its own process, timing every webhook it sends (as Twilio sees it:
from sending the request to having the answer), for the busy-hour measurement.

    python -m bench.standin_timed --port 5050 --hotline-url http://127.0.0.1:5000 \
        --speed 5 --out timings.json

On SIGTERM it writes ``[[path, status, milliseconds, error, unix time], ...]`` to ``--out``
and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

#: Retries of a webhook whose connection failed: Twilio's default (connection overrides,
#: ``rc`` = 1), which the stand-in's own transport does not model.
CONNECTION_RETRIES = 1


class TimedTransport:
    """Wraps the stand-in's transport (its one seam to the hotline) and times each send,
    retrying a failed connection once as Twilio does."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.timings: list[tuple[str, int, float, str, float]] = []
        #: Connection failures that Twilio's retry then recovered (path, error).
        self.retried: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def send(self, method: str, url: str, params: dict[str, str], signature: str) -> Any:
        """Send through the real transport, recording path, status, time and any error."""
        import requests  # noqa: PLC0415 - the stand-in's HTTP transport uses it

        path = "/twilio/" + url.split("/twilio/", 1)[-1] if "/twilio/" in url else url
        started = time.perf_counter()
        for attempt in range(CONNECTION_RETRIES + 1):
            try:
                response = self.inner.send(method, url, params, signature)
                break
            except requests.ConnectionError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                if attempt == CONNECTION_RETRIES:
                    self._record(path, 0, started, error)
                    raise
                with self._lock:
                    self.retried.append((path, error))
            except Exception as exc:
                self._record(path, 0, started, f"{type(exc).__name__}: {exc}"[:300])
                raise
        self._record(path, response.status, started, "")
        return response

    def _record(self, path: str, status: int, started: float, error: str) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        with self._lock:
            self.timings.append((path, status, elapsed, error, time.time()))


def main() -> None:
    """Serve the stand-in until SIGTERM, then write the timings."""
    from twilio_standin import Clock, StandIn  # noqa: PLC0415

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hotline-url", required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    standin = StandIn(
        os.environ["TWILIO_ACCOUNT_SID"],
        os.environ["TWILIO_AUTH_TOKEN"],
        clock=Clock(args.speed),
        port=args.port,
    )
    standin.connect(args.hotline_url)
    timed = TimedTransport(standin.transport)
    standin.transport = timed  # type: ignore[assignment]

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        standin.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        with timed._lock:
            data = {"timings": list(timed.timings), "retried": list(timed.retried)}
        args.out.write_text(json.dumps({**data, "anomalies": standin.anomalies}))


if __name__ == "__main__":
    main()
