"""Concurrent HTTP load: wrk (Debian's package) with a Lua script of signed POSTs, or, where
wrk cannot be had, a plain threaded generator (closed loop, keep-alive) as a fallback."""

from __future__ import annotations

import http.client
import itertools
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
    #: The load ran out of prepared requests and repeated them from the start.
    wrapped: bool = False

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


def wrk_script(partitions: list[list[Request]]) -> str:
    """A wrk Lua script: wrk thread t sends partition t's pre-signed POSTs in order (once
    through, then again from the start), and the summary is printed as JSON when done."""
    parts = []
    for requests in partitions:
        rows = [
            "{" + f"path={_lua_string(path)}, body={_lua_string(urlencode(params))}, "
            f"sig={_lua_string(sign(path, params))}" + "}"
            for path, params in requests
        ]
        parts.append("{\n  " + ",\n  ".join(rows) + "\n}")
    return (
        "local parts = {\n" + ",\n".join(parts) + "\n}\n"
        "local threads, counter = {}, 0\n"
        "function setup(thread)\n"
        "  counter = counter + 1\n"
        "  thread:set('tid', counter)\n"
        "  table.insert(threads, thread)\n"
        "end\n"
        "local reqs, i = nil, 0\n"
        "wrapped = 0\n"
        "function init(args)\n"
        "  reqs = parts[(tid - 1) % #parts + 1]\n"
        "end\n"
        "function request()\n"
        "  i = i + 1\n"
        "  if i > #reqs then i = 1; wrapped = wrapped + 1 end\n"
        "  local q = reqs[i]\n"
        '  return wrk.format("POST", q.path, {["Content-Type"] = '
        '"application/x-www-form-urlencoded", ["X-Twilio-Signature"] = q.sig}, q.body)\n'
        "end\n"
        "function done(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        "  local w = 0\n"
        "  for _, t in ipairs(threads) do w = w + (t:get('wrapped') or 0) end\n"
        '  io.write(string.format("BENCH_JSON {\\"requests\\": %d, \\"duration_us\\": %d, '
        '\\"errors\\": %d, \\"wrapped\\": %d, \\"p50\\": %d, \\"p90\\": %d, '
        '\\"p99\\": %d, \\"max\\": %d}\\n",\n'
        "    summary.requests, summary.duration,\n"
        "    e.connect + e.read + e.write + e.status + e.timeout, w,\n"
        "    latency:percentile(50), latency:percentile(90), latency:percentile(99), "
        "latency.max))\n"
        "end\n"
    )


def run_wrk(
    wrk: str,
    base: str,
    partitions: list[list[Request]],
    connections: int,
    seconds: float,
    script_dir: Path,
) -> LoadResult:
    """Load ``base`` with wrk (one thread per partition, ``connections`` keep-alive
    connections shared among them)."""
    script = script_dir / "load.lua"
    script.write_text(wrk_script(partitions))
    threads = min(len(partitions), connections)
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
        wrapped=bool(data["wrapped"]),
    )


def run_threads(
    base: str, partitions: list[list[Request]], connections: int, seconds: float
) -> LoadResult:
    """Fallback load: one thread per connection POSTing in a closed loop, all taking the
    prepared requests in order from one shared cursor."""
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    # Interleave the partitions so order within each is kept.
    ordered = [req for group in itertools.zip_longest(*partitions) for req in group if req]
    prepared = [(path, urlencode(params), sign(path, params)) for path, params in ordered]
    cursor = itertools.count()
    latencies: list[float] = []
    errors = [0]
    wrapped = [False]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < deadline:
            n = next(cursor)  # itertools.count is atomic under the GIL
            if n >= len(prepared):
                wrapped[0] = True
            path, body, signature = prepared[n % len(prepared)]
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            }
            started = time.perf_counter()
            try:
                conn.request("POST", path, body, headers)
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
    threads = [threading.Thread(target=client) for _ in range(connections)]
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
        wrapped=wrapped[0],
    )


def load(
    base: str,
    partitions: list[list[Request]],
    connections: int,
    seconds: float,
    script_dir: Path,
    wrk: str | None,
) -> LoadResult:
    """Load ``base`` with wrk when there is one, else with threads."""
    if wrk:
        return run_wrk(wrk, base, partitions, connections, seconds, script_dir)
    return run_threads(base, partitions, connections, seconds)
