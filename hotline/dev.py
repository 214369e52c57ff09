"""``hotline dev``: the whole service on one machine for a developer or a demo."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import time
from pathlib import Path

import click

from hotline.cli import spawn, stop_all
from hotline.redis_server import (
    embedded_redis_running,
    ensure_embedded_redis,
    stop_embedded_redis,
)

#: Port of the local Twilio stand-in started when no Twilio credentials are set
#: (STANDIN_PORT overrides it).
STANDIN_PORT = 5050
#: File under the var directory holding the random secrets of ``hotline dev``.
DEV_SECRETS = "dev-secrets.json"


def run_dev(worker_count: int) -> None:
    """Start Redis (embedded unless REDIS_URL), the stand-in (unless Twilio credentials),
    the web server and ``worker_count`` workers; stop them all on Ctrl-C."""
    env = dict(os.environ)
    port = int(env.get("PORT", "5000"))
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    var_dir = Path(env.get("HOTLINE_VAR_DIR", "var"))
    for name, value in dev_secrets(var_dir).items():
        env.setdefault(name, value)
    env.setdefault("WEB_CONCURRENCY", "2")
    started_redis = False
    if not env.get("REDIS_URL"):
        started_redis = not embedded_redis_running(var_dir)
        env["REDIS_URL"] = ensure_embedded_redis(var_dir)
        click.echo(f"Redis (embedded, AOF under ./var/redis): {env['REDIS_URL']}")
    children = []
    standin_port = int(env.get("STANDIN_PORT", STANDIN_PORT))
    if not env.get("TWILIO_ACCOUNT_SID"):
        env["TWILIO_ACCOUNT_SID"] = "AC" + secrets.token_hex(16)
        env["TWILIO_AUTH_TOKEN"] = secrets.token_hex(16)
        if importlib.util.find_spec("twilio_standin") is not None:
            env["TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{standin_port}"
            children.append(
                spawn(
                    ["--port", str(standin_port), "--hotline-url", env["PUBLIC_BASE_URL"]],
                    env,
                    module="twilio_standin",
                )
            )
            click.echo(f"Twilio stand-in:  http://127.0.0.1:{standin_port}")
    children.append(spawn(["web", "--bind", f"127.0.0.1:{port}"], env))
    children.extend(spawn(["worker"], env) for _ in range(worker_count))
    base = env["PUBLIC_BASE_URL"]
    click.echo(f"Hotline:          {base}/  (dashboard, console, try-it page)")
    click.echo(f"Voice webhook:    {base}/twilio/voice")
    click.echo(f"API token:        {env['HOTLINE_API_TOKEN']}")
    click.echo("Press Ctrl-C to stop.")
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop_all(children)
        if started_redis:
            stop_embedded_redis(var_dir)  # flushes the AOF; the data stay under var/


def read_dev_secrets(var_dir: Path) -> dict[str, str] | None:
    """The secrets an earlier ``hotline dev`` kept under ``var_dir``, or None."""
    path = var_dir / DEV_SECRETS
    return dict(json.loads(path.read_text())) if path.exists() else None


def dev_secrets(var_dir: Path) -> dict[str, str]:
    """SECRET_KEY and HOTLINE_API_TOKEN for dev, random once and kept under var/ (mode 600),
    so sessions, the API token and number digests survive a restart of ``hotline dev``."""
    kept = read_dev_secrets(var_dir)
    if kept is not None:
        return kept
    var_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "HOTLINE_API_TOKEN": secrets.token_urlsafe(24),
    }
    fd = os.open(var_dir / DEV_SECRETS, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values
