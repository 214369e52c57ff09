"""Where the time goes: ``hotline web`` under py-spy while wrk sends the IVR load.

    .venv/bin/pip install py-spy
    .venv/bin/python -m bench.profile [--seconds 10] [--connections 16]

Samples every gunicorn process (py-spy record --subprocesses, GIL-holding or idle threads
excluded), writes the collapsed stacks to bench/out/profile-webhook.txt (feed it to
speedscope or flamegraph.pl) and prints the functions with the most inclusive and self time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bench.common import (
    AUTH_TOKEN,
    OUT_DIR,
    PUBLIC_BASE_URL,
    free_port,
    hotline_env,
    hotline_process,
    private_redis,
    scratch_dir,
    settings_for,
    sign,
    wait_http,
)
from bench.loadgen import ensure_wrk, load
from bench.webhook import calls_for, check_walk, open_calls, partitions


def summarize(collapsed: Path, top: int = 25) -> str:
    """Inclusive and self sample shares per function from py-spy's collapsed stacks."""
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        self_time[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in self_time.most_common(top)]
    return "\n".join(lines)


def _wsgi_caller(app: Any) -> Callable[[str, dict[str, str]], bytes]:
    """Call a WSGI app directly with a signed form POST (no HTTP, no test client)."""
    from werkzeug.test import EnvironBuilder

    def call(path: str, params: dict[str, str]) -> bytes:
        environ = EnvironBuilder(
            path=path,
            method="POST",
            data=params,
            headers={"X-Twilio-Signature": sign(path, params)},
        ).get_environ()
        status: list[str] = []
        body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
        if not status[0].startswith("200"):
            raise RuntimeError(f"{path}: {status[0]} {body[:200]!r}")
        return body

    return call


def in_process(calls: int = 300) -> str:
    """Per-request cost in one thread, in this process (no HTTP): the bare app, Hotline's
    cheapest signed webhook, and a whole IVR walk; then where the IVR's time goes (cProfile,
    cumulative) and how many Redis round trips each request makes."""
    import cProfile
    import pstats
    import socket

    from bench.bare_app import create_bare_app
    from bench.webhook import inbound_params, walk, walk_through
    from hotline.app import create_app

    lines = []
    with private_redis("profile-inproc") as server:
        settings = settings_for(hotline_env(server.url))
        hotline = _wsgi_caller(create_app(settings).wsgi_app)
        bare = _wsgi_caller(create_bare_app(AUTH_TOKEN, PUBLIC_BASE_URL).wsgi_app)
        for n in range(1, 30):  # warm-up
            for request in walk(n):
                hotline(*request)
                bare(*request)

        def timed(fn: Callable[[], None], count: int) -> float:
            started = time.perf_counter()
            fn()
            return (time.perf_counter() - started) / count * 1e6

        requests = [req for n in range(1000, 1000 + calls) for req in walk(n)]
        status = [
            ("/twilio/status", {**inbound_params(n), "CallStatus": "ringing"}) for n in range(calls)
        ]
        bare_us = timed(lambda: [bare(*q) for q in requests], len(requests))
        signed = [("/signed" + path, params) for path, params in requests]
        signed_us = timed(lambda: [bare(*q) for q in signed], len(signed))
        status_us = timed(lambda: [hotline(*q) for q in status], len(status))
        sends = [0]
        real_sendall = socket.socket.sendall

        def counting_sendall(self: socket.socket, data: Any, *args: Any) -> Any:
            sends[0] += 1
            return real_sendall(self, data, *args)

        socket.socket.sendall = counting_sendall  # type: ignore[method-assign]
        try:
            ivr_us = timed(
                lambda: [walk_through(hotline, n) for n in range(5000, 5000 + calls)],
                len(requests),
            )
        finally:
            socket.socket.sendall = real_sendall  # type: ignore[method-assign]
        lines += [
            f"in-process, one thread, mean per request over {len(requests)} requests:",
            f"  bare Flask <Gather>:                          {bare_us:7.0f} us",
            f"  bare + signature check:                        {signed_us:7.0f} us",
            f"  Hotline /twilio/status (signature, no domain): {status_us:7.0f} us",
            f"  Hotline IVR steps (whole walks, mean):         {ivr_us:7.0f} us",
            f"  Redis round trips per IVR request (sendall):   {sends[0] / len(requests):7.1f}",
            "",
        ]
        per_step: dict[str, list[float]] = {}
        trips: dict[str, int] = {}
        socket.socket.sendall = counting_sendall  # type: ignore[method-assign]
        try:
            for n in range(9000, 9000 + calls):

                def stepped(path: str, params: dict[str, str]) -> bytes:
                    before = sends[0]
                    started = time.perf_counter()
                    body = hotline(path, params)
                    step = path.split("?")[0]
                    per_step.setdefault(step, []).append((time.perf_counter() - started) * 1e6)
                    trips[step] = trips.get(step, 0) + sends[0] - before
                    return body

                walk_through(stepped, n)
        finally:
            socket.socket.sendall = real_sendall  # type: ignore[method-assign]
        lines.append("mean per step (Redis round trips):")
        lines += [
            f"  {path:28s} {sum(v) / len(v):7.0f} us  ({trips[path] / len(v):.0f})"
            for path, v in per_step.items()
        ]
        lines.append("")
        profiler = cProfile.Profile()
        profiler.enable()
        for n in range(20000, 20000 + calls):
            walk_through(hotline, n)
        profiler.disable()
        stats = pstats.Stats(profiler)
        total = sum(v[3] for k, v in stats.stats.items() if k[2] == "wsgi_app")  # type: ignore[attr-defined]
        lines.append(
            "cProfile, cumulative share of Flask.wsgi_app (profiler overhead inflates "
            "Python-heavy parts):"
        )
        wanted = (
            "signature_is_valid",
            "preprocess_request",
            "answer_call",
            "answer_step",
            "save_session",
            "_save_answers",
            "load_session",
            "complete",
            "_closing",
            "_request_match",
            "request_match",
            "_ivr_twiml",
            "call_with_retry",
            "_csrf",
            "csrf_protect",
            "compute_signature",
            # the app's other request hooks (Flask-Limiter's, CSRF's, security headers)
            "_check_request_limit",
            "check_csrf",
            "security_headers",
            "__inject_headers",
            "step_session",
            "render",
        )
        rows = []
        for key, value in stats.stats.items():  # type: ignore[attr-defined]
            if key[2] in wanted:
                rows.append((value[3], f"{key[2]} ({Path(key[0]).name}:{key[1]})", value[1]))
        for cum, name, ncalls in sorted(rows, reverse=True):
            lines.append(
                f"  {100 * cum / total:5.1f}%  {name}  [{ncalls / len(requests):.2f} calls/request]"
            )
    return "\n".join(lines)


def main() -> None:
    """Profile the web server under the IVR load."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", default="1", help="WEB_CONCURRENCY of the profiled server")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="per-request costs and a cProfile breakdown in this process (no HTTP)",
    )
    parser.add_argument(
        "--gil", action="store_true", help="sample only the thread holding the GIL (CPU work)"
    )
    args = parser.parse_args()
    if args.in_process:
        print(in_process())
        return
    py_spy = shutil.which("py-spy") or str(Path(__import__("sys").executable).with_name("py-spy"))
    workdir = scratch_dir("profile")
    out = OUT_DIR / "profile-webhook.txt"
    with private_redis("profile-redis") as server:
        r = redis.Redis.from_url(server.url, decode_responses=True)
        env = hotline_env(server.url, WEB_CONCURRENCY=args.workers)
        port = free_port()
        web = hotline_process(["web", "--bind", f"127.0.0.1:{port}"], env, workdir / "web.log")
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/healthz", web)
            check_walk(base, r, 1)
            count = calls_for(3000 * args.seconds)
            opened = open_calls(base, r, 2, count)  # steps name their lead, as Twilio's do
            parts, _ = partitions(2 + count, 3000 * args.seconds, opened)
            wrk = ensure_wrk()
            spy = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(web.popen.pid),
                    "--subprocesses",
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--duration",
                    str(args.seconds),
                    "--output",
                    str(out),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            result = {}
            loader = threading.Thread(
                target=lambda: result.update(
                    x=load(base, parts, args.connections, args.seconds, workdir, wrk)
                )
            )
            loader.start()
            loader.join()
            spy.wait(args.seconds + 30)
            print(f"load: {result['x']}")
        finally:
            web.stop()
            r.close()
    print(f"collapsed stacks: {out}")
    print(summarize(out))


if __name__ == "__main__":
    main()
