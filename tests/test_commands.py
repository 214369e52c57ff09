"""The commands operators run: the embedded Redis, `hotline web`, `hotline dev`, and the
compose file read against the CLI it calls."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import redis
import yaml

from hotline.cli import main
from tests.conftest import ROOT, free_port, wait_until
from workers.redis_server import ensure_embedded_redis, stop_embedded_redis


def healthz(port: int) -> bool:
    """Whether the web app answers /healthz on ``port``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def test_embedded_redis_persists_with_aof(tmp_path: Path) -> None:
    url = ensure_embedded_redis(tmp_path)
    try:
        assert ensure_embedded_redis(tmp_path) == url  # a second process finds it running
        client = redis.Redis.from_url(url)
        client.set("hotline:test:persist", "kept")
        assert client.config_get("appendonly")["appendonly"] == "yes"
    finally:
        stop_embedded_redis(tmp_path)
    aof = list((tmp_path / "redis").rglob("appendonly*"))
    assert aof, "no AOF file under the var directory"
    url = ensure_embedded_redis(tmp_path)
    try:
        assert redis.Redis.from_url(url).get("hotline:test:persist") == b"kept"
    finally:
        stop_embedded_redis(tmp_path)


def test_hotline_web_serves_with_gunicorn(env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "web", "--bind", f"127.0.0.1:{port}"],
        env={**os.environ, **env, "WEB_CONCURRENCY": "1"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: healthz(port) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert healthz(port)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_web_refuses_to_start_with_bad_settings(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hotline", "web"],
        env={**os.environ, **env, "CALLING_HOURS": "all day"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CALLING_HOURS" in result.stderr


def test_hotline_dev_starts_everything_without_redis_url(tmp_path: Path) -> None:
    port, standin = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "REDIS_URL", "HOTLINE_", "SECRET_KEY", "PUBLIC_BASE"))
    }
    env.update(PORT=str(port), STANDIN_PORT=str(standin), HOTLINE_VAR_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "dev", "--workers", "1"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: healthz(port) or proc.poll() is not None, timeout=60)
        assert proc.poll() is None
        assert list((tmp_path / "redis").glob("redis.sock")), "embedded Redis not under var"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        stop_embedded_redis(tmp_path)
    text = out.decode()
    assert f"http://127.0.0.1:{port}" in text
    assert "embedded" in text


COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.mark.parametrize("service", ["web", "worker"])
def test_compose_commands_are_real_hotline_commands(service: str) -> None:
    command = COMPOSE["services"][service]["command"]
    args = command if isinstance(command, list) else shlex.split(command)
    assert args[0] == "hotline"
    sub = main.get_command(None, args[1])  # type: ignore[arg-type]
    assert sub is not None, f"`hotline {args[1]}` does not exist"
    sub.make_context(args[1], list(args[2:]))  # raises on an unknown option


def test_compose_redis_persists_and_is_checked() -> None:
    redis_service = COMPOSE["services"]["redis"]
    command = " ".join(redis_service["command"])
    assert "--appendonly yes" in command
    assert "healthcheck" in redis_service
    for name in ("web", "worker"):
        service = COMPOSE["services"][name]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:")


def test_compose_worker_is_scalable_and_holds_no_secrets() -> None:
    worker = COMPOSE["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in ("TWILIO_AUTH_TOKEN", "SECRET_KEY", "HOTLINE_API_TOKEN", "PASSWORD"):
        assert f"{secret}:" not in text and f"{secret}=" not in text


def test_env_example_lists_only_real_settings() -> None:
    settings_source = (ROOT / "settings.py").read_text()
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.lstrip("# ").strip()
        if "=" in line and line.split("=")[0].isupper():
            name = line.split("=")[0]
            assert f'"{name}"' in settings_source, f"{name} is not read by settings.py"


def test_dev_secrets_are_random_once_then_kept(tmp_path: Path) -> None:
    from hotline.dev import dev_secrets

    first = dev_secrets(tmp_path)
    assert len(first["SECRET_KEY"]) >= 32 and len(first["HOTLINE_API_TOKEN"]) >= 24
    assert dev_secrets(tmp_path) == first
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o077 == 0
    assert dev_secrets(tmp_path / "other") != first


def test_hotline_dev_with_sentinels_starts_no_redis_and_passes_no_redis_url(
    env: dict[str, str],
) -> None:
    from hotline.dev import _chosen_environ
    from settings import load_settings

    env.pop("REDIS_URL")
    env["REDIS_SENTINELS"] = "127.0.0.1:26379,127.0.0.1:26380"
    settings = load_settings(env)
    assert not settings.redis_is_embedded
    chosen = _chosen_environ(settings, settings.redis_url)
    assert "REDIS_URL" not in chosen  # the children ask the Sentinels, as this process does
    assert load_settings({**env, **chosen}).redis_sentinels == settings.redis_sentinels
