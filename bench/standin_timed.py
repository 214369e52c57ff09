"""The Twilio stand-in in its own process, timing every webhook it sends (as Twilio sees it:
from sending the request to having the answer), for the busy-hour measurement.

    python -m bench.standin_timed --port 5050 --hotline-url http://127.0.0.1:5000 \
        --speed 5 --out timings.json

On SIGTERM it writes ``[[path, status, milliseconds, error, unix time], ...]`` to ``--out``
and exits.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any


def standin_retries() -> int:
    """Connection retries the stand-in's own transport makes (0 in versions that do not)."""
    from twilio_standin import transport

    return int(getattr(transport, "CONNECTION_RETRIES", 0))


class TimedTransport:
    """Wraps the stand-in's transport (its one seam to the hotline) and times each send.

    Twilio retries a webhook whose connection failed once (connection overrides, ``rc`` = 1);
    ``retries`` adds that here when the stand-in's transport does not do it itself.
    """

    def __init__(self, inner: Any, retries: int = 1):
        self.inner = inner
        self.retries = retries
        self.timings: list[tuple[str, int, float, str, float]] = []
        #: Every failed connection seen, retried or not (path or URL, error).
        self.connection_failures: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def send(self, method: str, url: str, params: dict[str, str], signature: str) -> Any:
        """Send through the real transport, recording path, status, time and any error."""
        import requests  # the stand-in's HTTP transport uses it

        path = _path(url)
        started = time.perf_counter()
        for attempt in range(self.retries + 1):
            try:
                response = self.inner.send(method, url, params, signature)
                break
            except requests.ConnectionError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                if attempt == self.retries:
                    self._record(path, 0, started, error)
                    raise
                self.failed_connection(path, error)
            except Exception as exc:
                self._record(path, 0, started, f"{type(exc).__name__}: {exc}"[:300])
                raise
        self._record(path, response.status, started, "")
        return response

    def failed_connection(self, path: str, error: str) -> None:
        """Count a connection that failed (the retry, if any, is the transport's business)."""
        with self._lock:
            self.connection_failures.append((path, error))

    def _record(self, path: str, status: int, started: float, error: str) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        with self._lock:
            self.timings.append((path, status, elapsed, error, time.time()))


class GcWatch:
    """Times the cyclic garbage collector's passes in this process (``gc.callbacks``): every
    thread stops while one runs, so a long one is a webhook answer read late.

    With ``freeze_every`` (real seconds), what the process holds is moved out of the
    collector's sight that often (``gc.freeze``): the calls a long run has placed are kept
    to the end, and without this each full pass walks all of them again.
    """

    def __init__(self, freeze_every: float = 0.0) -> None:
        self.passes = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]
        self.freezes = 0
        self._started = 0.0
        self._stopped = threading.Event()
        gc.callbacks.append(self._note)
        if freeze_every > 0:
            threading.Thread(
                target=self._freeze, args=(freeze_every,), name="gc-freeze", daemon=True
            ).start()

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        took = time.perf_counter() - self._started
        self.passes[generation] += 1
        self.seconds[generation] += took
        self.longest[generation] = max(self.longest[generation], took)

    def _freeze(self, every: float) -> None:
        while not self._stopped.wait(every):
            gc.freeze()
            self.freezes += 1

    def stop(self) -> None:
        """No more freezing (the process is ending)."""
        self._stopped.set()

    def summary(self) -> dict[str, Any]:
        """Passes, seconds and the longest pass (ms) per generation, and the freezes."""
        return {
            "passes": self.passes,
            "seconds": [round(s, 3) for s in self.seconds],
            "longest_ms": [round(s * 1000, 1) for s in self.longest],
            "freezes": self.freezes,
            "frozen_objects": gc.get_freeze_count(),
        }


def _path(url: str) -> str:
    return "/twilio/" + url.split("/twilio/", 1)[-1] if "/twilio/" in url else url


def count_connection_failures(timed: TimedTransport) -> None:
    """Count every failed webhook connection the stand-in's own retries hide, by watching
    requests' Session in this process (the stand-in's HTTP transport is built on it)."""
    import requests

    original = requests.Session.request

    def request(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, method, url, *args, **kwargs)
        except requests.ConnectionError as exc:
            timed.failed_connection(_path(url), f"{type(exc).__name__}: {exc}"[:300])
            raise

    requests.Session.request = request  # type: ignore[method-assign]


def main() -> None:
    """Serve the stand-in until SIGTERM, then write the timings."""
    from twilio_standin import Clock, StandIn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hotline-url", required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--gc-freeze-every",
        type=float,
        default=0.0,
        help="real seconds between gc.freeze() calls (0: never)",
    )
    args = parser.parse_args()
    gc_watch = GcWatch(args.gc_freeze_every)
    standin = StandIn(
        os.environ["TWILIO_ACCOUNT_SID"],
        os.environ["TWILIO_AUTH_TOKEN"],
        clock=Clock(args.speed),
        port=args.port,
    )
    standin.connect(args.hotline_url)
    own = standin_retries()
    timed = TimedTransport(standin.transport, retries=0 if own else 1)
    if own:
        count_connection_failures(timed)
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
            data = {
                "timings": list(timed.timings),
                "connection_failures": list(timed.connection_failures),
                "retried_by": "the stand-in" if own else "bench/standin_timed.py",
                "gc": gc_watch.summary(),
            }
        args.out.write_text(json.dumps({**data, "anomalies": standin.anomalies}))


if __name__ == "__main__":
    main()
