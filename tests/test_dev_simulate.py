"""The README's demo: ``hotline dev`` as a process, then its ``hotline simulate`` example run
twice in a row, finding everything through var/dev.json."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port, wait_until
from tests.test_commands import healthz
from workers.redis_server import stop_embedded_redis

pytestmark = pytest.mark.e2e

#: The example in the README, word for word.
EXAMPLE = ["simulate", "--callers", "50", "--counselors", "5"]


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any Hotline setting, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "REDIS_", "HOTLINE_", "SECRET_KEY", "PUBLIC_BASE"))
        and k not in ("PORT", "STANDIN_PORT")
    }
    return {**env, **extra}


def summary_number(output: str, label: str) -> int:
    """An integer from a summary line."""
    match = re.search(rf"^{label}:\s+(\d+)", output, re.MULTILINE)
    assert match, f"no {label!r} in:\n{output}"
    return int(match.group(1))


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[dict[str, object]]:
    """``hotline dev`` on free ports with its own var directory (so its own Redis); what it
    wrote to var/dev.json."""
    port, standin_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "dev"],
        env=clean_environ(
            PORT=str(port), STANDIN_PORT=str(standin_port), HOTLINE_VAR_DIR=str(tmp_path)
        ),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    running = tmp_path / "dev.json"
    try:
        wait_until(lambda: (healthz(port) and running.exists()) or proc.poll() is not None, 60)
        assert proc.poll() is None, "hotline dev stopped"
        found = json.loads(running.read_text())
        standin = f"http://127.0.0.1:{standin_port}/_standin/health"
        wait_until(lambda: requests.get(standin, timeout=2).ok, 30)
        yield found
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        stop_embedded_redis(tmp_path)
    assert not running.exists(), "hotline dev leaves no dev.json behind when it stops"


def test_the_readme_example_runs_twice_against_hotline_dev(
    dev: dict[str, object], tmp_path: Path
) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", str(dev["web"]))
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", str(dev["standin"]))
    assert str(dev["redis"]).startswith("unix://") and "@" not in str(dev["redis"])
    for run in (1, 2):
        started = time.monotonic()
        # Only the var directory: the URLs come from dev.json, the API token from var/ too.
        result = subprocess.run(
            [sys.executable, "-m", "hotline", *EXAMPLE],
            env=clean_environ(HOTLINE_VAR_DIR=str(tmp_path)),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.monotonic() - started
        output = result.stdout + result.stderr
        assert summary_number(output, "anomalies") == 0, f"run {run}:\n{output}"
        assert result.returncode == 0, f"run {run}:\n{output}"
        leads = summary_number(output, "leads created")
        assert leads == 50, f"run {run}:\n{output}"
        assert summary_number(output, "still pending") == 0, f"run {run}:\n{output}"
        served = summary_number(output, "callbacks connected") + summary_number(
            output, "unreachable"
        )
        assert served == leads, f"run {run}: every caller called back until done\n{output}"
        assert took < 60, f"run {run} took {took:.0f}s:\n{output}"
        assert "outcome: every caller was called back" in output, output


@pytest.mark.parametrize(
    ("url", "written"),
    [
        ("unix:///srv/var/redis/redis.sock", "unix:///srv/var/redis/redis.sock"),
        ("redis://:s3cret@redis:6379/0", "redis://redis:6379/0"),
        ("rediss://hotline:s3cret@redis.example:6380/1", "rediss://hotline@redis.example:6380/1"),
    ],
)
def test_dev_json_never_holds_a_redis_password(url: str, written: str) -> None:
    from hotline.dev import without_password

    assert without_password(url) == written


def test_a_dev_json_left_by_a_stopped_hotline_dev_is_ignored(tmp_path: Path) -> None:
    from hotline.dev import DEV_RUNNING, read_dev_running

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    left = {"pid": int(gone.stdout), "web": "http://127.0.0.1:1", "standin": None}
    (tmp_path / DEV_RUNNING).write_text(json.dumps(left))
    assert read_dev_running(tmp_path) is None
    (tmp_path / DEV_RUNNING).write_text(json.dumps({**left, "pid": os.getpid()}))
    assert read_dev_running(tmp_path) == {**left, "pid": os.getpid()}
