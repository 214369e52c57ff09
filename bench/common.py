"""What every measurement shares: percentiles, the machine's description, private Redis
servers and Hotline processes started the way production starts them, and how one measurement
runs on its own (its records are ``bench.results``, its Markdown ``bench.report``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from twilio.request_validator import RequestValidator

from bench.report import render_result
from bench.results import Result
from workers.child_process import ChildProcess, python_module
from workers.redis_server import RedisProcess

ROOT = Path(__file__).resolve().parent.parent
#: Scratch space of a run (gitignored). On the real disk, not tmpfs, so fsync costs what
#: it costs in production (the durability measurement depends on it).
OUT_DIR = ROOT / "bench" / "out"

PUBLIC_BASE_URL = "https://hotline.example.org"
ACCOUNT_SID = "AC" + "0" * 31 + "7"
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
API_TOKEN = "bench-api-token-0123456789abcdef"


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile by nearest rank (a real observed value), as Hotline's reports
    compute it (routing.reports.percentile); a benchmark with no values is an error."""
    from routing.reports import percentile as nearest_rank

    value = nearest_rank(values, pct)
    if value is None:
        raise ValueError("no values")
    return value


def median(values: list[float]) -> float:
    """The median (nearest rank)."""
    return percentile(values, 50)


def machine_description() -> dict[str, str]:
    """What the figures were measured on: cores, CPU, memory, versions, load."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    from workers.redis_server import redis_server_binary

    redis_version = subprocess.run(
        [redis_server_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": cpu,
        "memory": memory,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Redis": redis_version.split(" sha=")[0],
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "commit": git or "unknown",
    }


def scratch_dir(name: str) -> Path:
    """A fresh directory under bench/out for one measurement."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=OUT_DIR))


def redis_cpu_seconds(r: Any) -> float:
    """CPU seconds a redis-server has used so far (user + system, from INFO cpu)."""
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@contextlib.contextmanager
def private_redis(
    name: str, appendonly: bool = False, appendfsync: str = "everysec"
) -> Iterator[RedisProcess]:
    """A redis-server of our own (Unix socket), never the machine's shared one."""
    directory = scratch_dir(name)
    server = RedisProcess(directory, appendonly=appendonly, appendfsync=appendfsync).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def hotline_env(redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a Hotline process in a benchmark (test-like settings)."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": "http://127.0.0.1:9",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "HOTLINE_API_TOKEN": API_TOKEN,
        "SECRET_KEY": "bench-secret-key-0123456789abcdef",
        "CALLING_HOURS": "00:00-23:59",
        # Figures measure the work, not log writing; warnings and errors still show.
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def settings_for(env: dict[str, str]) -> Any:
    """Settings exactly as a process with ``env`` would build them."""
    from settings import load_settings

    return load_settings(env)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign(path: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature for a POST of ``params`` to PUBLIC_BASE_URL + ``path``."""
    return str(RequestValidator(token).compute_signature(PUBLIC_BASE_URL + path, params))


def signed_post(base: str, path: str, params: dict[str, str], timeout: float = 10) -> bytes:
    """POST a signed webhook to a running server; the body of its answer (raises on != 2xx)."""
    from urllib.parse import urlencode

    request = urllib.request.Request(
        base + path,
        data=urlencode(params).encode(),
        headers={"X-Twilio-Signature": sign(path, params)},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # loopback
        return bytes(response.read())


def hotline_process(args: list[str], env: dict[str, str], log_path: Path) -> ChildProcess:
    """Start ``hotline <args>`` (``python -m hotline``) as production would."""
    return python_module("hotline", args, env, log_path, cwd=ROOT)


def wait_http(url: str, process: ChildProcess, timeout: float = 30) -> None:
    """Wait until ``url`` answers (any HTTP status) or fail with the process's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"server exited:\n{process.tail()}")
        try:
            urllib.request.urlopen(url, timeout=1).close()  # loopback
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s:\n{process.tail()}")


def missing(*modules: str) -> str | None:
    """A reason to skip a measurement if a module it needs is not written yet."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return f"needs {name}, which is not available yet ({exc})"
    return None


def standalone(run: Callable[[bool], Result]) -> None:
    """``python -m bench.<measurement> [--quick]``: run one measurement and print it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds not minutes")
    args = parser.parse_args()
    result = timed(run, args.quick)
    print(render_result(result))
    print(json.dumps(result.to_dict(), indent=2, default=str), file=sys.stderr)
    sys.exit(1 if result.error or result.short else 0)


def timed(run: Callable[[bool], Result], quick: bool) -> Result:
    """Run a measurement, recording how long it took; a crash becomes Result.error."""
    started = time.monotonic()
    try:
        result = run(quick)
    except Exception as exc:  # a broken measurement must not stop the others
        import traceback

        name = getattr(run, "__module__", "bench").rsplit(".", 1)[-1]
        result = Result(name, name, error=f"{type(exc).__name__}: {exc}")
        result.notes.append("```\n" + traceback.format_exc()[-3000:] + "```")
    result.seconds = time.monotonic() - started
    result.quick = quick
    return result
