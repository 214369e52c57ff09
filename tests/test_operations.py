"""Operating Hotline: the worker's readiness check (RQ heartbeats) and compose's use of it,
`hotline web`'s metrics added up across its gunicorn processes, and what compose trusts."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from twilio.request_validator import RequestValidator

from hotline.cli import main
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL, ROOT, WorkerProcesses, wait_until
from tests.test_commands import free_port, healthz
from workers.runner import WORKER_TTL, ready_workers
from workers.services import Services

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
TOKEN = "metrics-token-0123456789"


def worker_ready(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `hotline worker-ready` as compose's healthcheck would."""
    return subprocess.run(
        [sys.executable, "-m", "hotline", "worker-ready", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- hotline worker-ready ------------------------------------------------------------------


def test_no_worker_is_not_ready(env: dict[str, str]) -> None:
    result = worker_ready(env)
    assert result.returncode == 1
    assert "not ready" in result.stderr


def test_a_running_worker_is_ready_here_and_not_elsewhere(
    env: dict[str, str], services: Services, workers: WorkerProcesses
) -> None:
    [process] = workers.start(1)
    wait_until(lambda: worker_ready(env).returncode == 0, timeout=30, interval=0.5)
    assert worker_ready(env, "--hostname", "some-other-host").returncode == 1
    # A worker whose last heartbeat is older than the limit is not ready (one killed with
    # -9 leaves its RQ record behind until it expires).
    [name] = ready_workers(services, WORKER_TTL)
    assert name in worker_ready(env).stdout
    later = datetime.now(UTC) + timedelta(seconds=WORKER_TTL + 1)
    assert ready_workers(services, WORKER_TTL, now=later) == []
    # A worker that stopped takes its record with it.
    process.stop(15)
    assert worker_ready(env).returncode == 1


def test_without_redis_a_worker_is_not_ready(env: dict[str, str]) -> None:
    result = worker_ready({**env, "REDIS_URL": "redis://127.0.0.1:9/0"})
    assert result.returncode == 1
    assert "Redis" in result.stderr


# --- compose ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["worker", "worker-ha"])
def test_compose_workers_are_checked_by_a_real_command(service: str) -> None:
    check = COMPOSE["services"][service]["healthcheck"]
    test = check["test"]
    args = test[1:] if test[0] == "CMD" else shlex.split(test[1])
    assert args[:2] == ["hotline", "worker-ready"]
    sub = main.get_command(None, args[1])  # type: ignore[arg-type]
    assert sub is not None
    sub.make_context(args[1], list(args[2:]))  # raises on an unknown option
    # A healthy worker heartbeats every 45 s; a check more often than the interval
    # would flap, and a worker must get time to start.
    assert check["start_period"] and check["retries"] >= 2


@pytest.mark.parametrize("service", ["web", "web-ha"])
def test_compose_trusts_no_forwarded_header_on_a_published_port(service: str) -> None:
    web = COMPOSE["services"][service]
    assert web["ports"], "the web port is published"
    assert web["environment"]["TRUSTED_PROXIES"] == "0"


def test_the_image_gives_its_user_a_var_directory() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER hotline" in dockerfile
    assert "chown hotline /app/var" in dockerfile


# --- hotline web: metrics from every gunicorn process --------------------------------------


def histogram_count(text: str, route: str) -> float:
    """How many webhook requests to ``route`` the exposition counts."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "hotline_webhook_duration_seconds_count" and s.labels.get("route") == route
    )


def test_hotline_web_adds_up_webhook_timings_of_all_its_processes(
    env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    home = tmp_path / "home"  # the container's user has no home: nothing may be put there
    server_env = {
        **os.environ,
        **env,
        "WEB_CONCURRENCY": "2",
        "HOTLINE_VAR_DIR": str(tmp_path / "var"),
        "METRICS_TOKEN": TOKEN,
        "HOME": str(home),
    }
    server_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # A server killed before it could tidy up left its files (4194305: above Linux's
    # largest pid, so no process has it).
    stale = tmp_path / "var" / "metrics" / "web-4194305"
    stale.mkdir(parents=True)
    (stale / "histogram_4194306.db").write_bytes(b"")
    server_env.pop("XDG_RUNTIME_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "web", "--bind", f"127.0.0.1:{port}"],
        env=server_env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    validator = RequestValidator(AUTH_TOKEN)
    try:
        wait_until(lambda: healthz(port) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        form = {"CallSid": "CA" + "5" * 32, "CallStatus": "ringing"}
        signature = validator.compute_signature(PUBLIC_BASE_URL + "/twilio/fallback", form)
        for _ in range(20):  # new connections, so both processes take some
            with requests.Session() as session:
                answer = session.post(
                    base + "/twilio/fallback", data=form, headers={"X-Twilio-Signature": signature}
                )
                assert answer.status_code == 200
        scraped = requests.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        assert histogram_count(scraped.text, "/twilio/fallback") == 20
        [metrics_dir] = (tmp_path / "var" / "metrics").iterdir()  # the stale one is gone
        assert metrics_dir.name == f"web-{proc.pid}"
        assert list(metrics_dir.glob("histogram_*.db")), "no multiprocess files under var"
        assert not (home / ".gunicorn").exists(), "gunicorn's control socket under $HOME"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert list((tmp_path / "var" / "metrics").iterdir()) == [], "metrics files left behind"
