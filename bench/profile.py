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
from collections import Counter
from pathlib import Path

import redis

from bench.common import (
    OUT_DIR,
    free_port,
    hotline_env,
    hotline_process,
    private_redis,
    scratch_dir,
    wait_http,
)
from bench.loadgen import ensure_wrk, load
from bench.webhook import check_walk, partitions


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


def main() -> None:
    """Profile the web server under the IVR load."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", default="1", help="WEB_CONCURRENCY of the profiled server")
    parser.add_argument(
        "--gil", action="store_true", help="sample only the thread holding the GIL (CPU work)"
    )
    args = parser.parse_args()
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
            parts, _ = partitions(2, 3000 * args.seconds)
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
