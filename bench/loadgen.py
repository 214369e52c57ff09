"""Concurrent HTTP load: wrk (Debian's package) with a Lua script of signed POSTs, or, where
wrk cannot be had, a plain threaded generator (closed loop, keep-alive) as a fallback."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.common import percentile, sign

#: One request of the load: path and form parameters (signed for PUBLIC_BASE_URL + path).
Request = tuple[str, dict[str, str]]


@dataclass
class LoadResult:
    """What a load run measured."""

    tool: str
    connections: int
    seconds: float
    requests: int
    #: Responses that were not 2xx/3xx, plus connect/read/write/timeout errors.
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def ensure_wrk() -> str | None:
    """Path of wrk, installing Debian's package when missing and we are root."""
    found = shutil.which("wrk")
    if found or os.environ.get("BENCH_NO_APT"):
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet).returncode:
            subprocess.run(["apt-get", "update", "-qq"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet)
    return shutil.which("wrk")


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_script(requests: list[Request]) -> str:
    """A wrk Lua script cycling through pre-signed POSTs, reporting JSON when done."""
    rows = []
    for path, params in requests:
        rows.append(
            "{" + f"path={_lua_string(path)}, body={_lua_string(urlencode(params))}, "
            f"sig={_lua_string(sign(path, params))}" + "}"
        )
    return (
        "local reqs = {\n  " + ",\n  ".join(rows) + "\n}\n"
        # Each wrk thread has its own Lua state; start threads at different offsets.
        "local i = math.random(#reqs) - 1\n"
        "request = function()\n"
        "  i = i % #reqs + 1\n"
        "  local q = reqs[i]\n"
        '  return wrk.format("POST", q.path, {["Content-Type"] = '
        '"application/x-www-form-urlencoded", ["X-Twilio-Signature"] = q.sig}, q.body)\n'
        "end\n"
        "done = function(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        '  io.write(string.format("BENCH_JSON {\\"requests\\": %d, \\"duration_us\\": %d, '
        '\\"errors\\": %d, \\"p50\\": %d, \\"p90\\": %d, \\"p99\\": %d, \\"max\\": %d}\\n",\n'
        "    summary.requests, summary.duration,\n"
        "    e.connect + e.read + e.write + e.status + e.timeout,\n"
        "    latency:percentile(50), latency:percentile(90), latency:percentile(99), "
        "latency.max))\n"
        "end\n"
    )


def run_wrk(
    wrk: str,
    base: str,
    requests: list[Request],
    connections: int,
    seconds: float,
    script_dir: Path,
) -> LoadResult:
    """Load ``base`` with wrk (2 threads, ``connections`` keep-alive connections)."""
    script = script_dir / "load.lua"
    script.write_text(wrk_script(requests))
    threads = min(2, connections)
    out = subprocess.run(
        [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return LoadResult(
        tool="wrk",
        connections=connections,
        seconds=data["duration_us"] / 1e6,
        requests=data["requests"],
        errors=data["errors"],
        p50_ms=data["p50"] / 1000,
        p90_ms=data["p90"] / 1000,
        p99_ms=data["p99"] / 1000,
        max_ms=data["max"] / 1000,
    )


def run_threads(base: str, requests: list[Request], connections: int, seconds: float) -> LoadResult:
    """Fallback load: one thread per connection, each POSTing in a closed loop."""
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    prepared = [(path, urlencode(params), sign(path, params)) for path, params in requests]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        mine: list[float] = []
        bad = 0
        i = offset
        while time.monotonic() < deadline:
            path, body, signature = prepared[i % len(prepared)]
            i += 1
            started = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    path,
                    body,
                    {
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": signature,
                    },
                )
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            mine.append(time.perf_counter() - started)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n * 7,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ms = [x * 1000 for x in latencies] or [0.0]
    return LoadResult(
        tool="python threads (wrk unavailable)",
        connections=connections,
        seconds=elapsed,
        requests=len(latencies),
        errors=errors[0],
        p50_ms=percentile(ms, 50),
        p90_ms=percentile(ms, 90),
        p99_ms=percentile(ms, 99),
        max_ms=max(ms),
    )


def load(
    base: str,
    requests: list[Request],
    connections: int,
    seconds: float,
    script_dir: Path,
    wrk: str | None,
) -> LoadResult:
    """Load ``base`` with wrk when there is one, else with threads."""
    if wrk:
        return run_wrk(wrk, base, requests, connections, seconds, script_dir)
    return run_threads(base, requests, connections, seconds)
