"""``hotline dev``: the whole service on one machine for a developer or a demo.

Its settings come from ``load_settings(..., dev=True)`` like every process's, over two dev
defaults: PUBLIC_BASE_URL on this machine's PORT, and SECRET_KEY and HOTLINE_API_TOKEN kept
under the var directory so that sessions and the API token survive a restart; with the
stand-in (no Twilio credentials), demo timers too (DEMO_TIMERS). The children get the
environment with the values ``hotline dev`` chose, so they all load the same settings. Where
everything runs is written to ``var/dev.json`` (no secret in it) for ``hotline simulate``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click

from settings import Settings, load_settings, random_secrets
from workers.child_process import ChildProcess, python_module, stop_all
from workers.redis_server import (
    embedded_redis_running,
    ensure_embedded_redis,
    stop_embedded_redis,
)

#: File under the var directory holding the secrets ``hotline dev`` keeps between runs.
DEV_SECRETS = "dev-secrets.json"
#: The secrets kept there; the stand-in's Twilio credentials are new on every run.
KEPT_SECRETS = ("SECRET_KEY", "HOTLINE_API_TOKEN")
#: File under the var directory saying where a running ``hotline dev`` serves everything
#: (read by ``hotline simulate``); URLs only, never a secret.
DEV_RUNNING = "dev.json"
#: Timers ``hotline dev`` uses with the stand-in unless the environment sets them. Nobody real
#: waits in a demo, or can be woken: a caller not reached is tried again within seconds (not
#: 5 to 60 minutes) at any hour, the sweep runs every second, and calls are placed as fast as
#: asked (the stand-in has no calls-per-second limit). Wrap-up keeps its real length: the
#: console shows it.
DEMO_TIMERS = {
    "RETRY_DELAYS": "2,4,8",
    "CALLING_HOURS": "00:00-24:00",
    "SWEEP_INTERVAL": "1",
    "CALLS_PER_SECOND": "20",
}


def dev_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of ``hotline dev``: the given one over the dev defaults."""
    # A first load validates the environment and names the var directory and port.
    first = load_settings(environ, dev=True)
    defaults = {"PUBLIC_BASE_URL": f"http://127.0.0.1:{first.port}", **dev_secrets(first.var_dir)}
    if first.twilio_api_base_url == first.twilio_standin_url:
        defaults.update(DEMO_TIMERS)
    return {**defaults, **{k: v for k, v in environ.items() if v}}


def dev_settings(environ: Mapping[str, str]) -> Settings:
    """Settings for ``hotline dev``: the environment's, over the dev defaults."""
    return load_settings(dev_environ(environ), dev=True)


def run_dev(settings: Settings, environ: Mapping[str, str], worker_count: int) -> None:
    """Start Redis (embedded unless REDIS_URL), the stand-in (when the settings point Twilio's
    API at it), the web server and ``worker_count`` workers; stop them all on Ctrl-C."""
    started_redis = False
    redis_url = settings.redis_url
    if settings.redis_is_embedded:
        started_redis = not embedded_redis_running(settings.var_dir)
        redis_url = ensure_embedded_redis(settings.var_dir)
        click.echo(f"Redis (embedded, AOF under {settings.var_dir / 'redis'}): {redis_url}")
    elif settings.redis_sentinels:
        click.echo(f"Redis: through the Sentinels of {settings.sentinel_master!r}")
    env = {**dev_environ(environ), **_chosen_environ(settings, redis_url)}
    base = settings.public_base_url
    children: list[ChildProcess] = []
    standin = False
    if settings.twilio_api_base_url == settings.twilio_standin_url:
        if importlib.util.find_spec("twilio_standin") is None:
            click.echo("Twilio stand-in:  not installed; calls will fail")
        else:
            port = str(settings.standin_port)
            children.append(
                python_module(
                    "twilio_standin", ["--port", port, "--hotline-url", base], env, own_group=False
                )
            )
            standin = True
            click.echo(f"Twilio stand-in:  {settings.twilio_standin_url}")
    children.append(
        python_module(
            "hotline", ["web", "--bind", f"127.0.0.1:{settings.port}"], env, own_group=False
        )
    )
    children.extend(
        python_module("hotline", ["worker"], env, own_group=False) for _ in range(worker_count)
    )
    running = write_dev_running(settings, redis_url, standin)
    click.echo(f"Hotline:          {base}/  (dashboard, console, try-it page)")
    click.echo(f"Voice webhook:    {base}/twilio/voice")
    click.echo(f"API token:        {settings.hotline_api_token}")
    demo = [f"{k}={v}" for k, v in DEMO_TIMERS.items() if not environ.get(k)]
    if demo and settings.twilio_api_base_url == settings.twilio_standin_url:
        click.echo(f"Demo timers:      {' '.join(demo)} (set them to choose others)")
    click.echo(f"Where it runs:    {running} (read by `hotline simulate`)")
    click.echo("Press Ctrl-C to stop.")
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping and all(c.alive() for c in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        running.unlink(missing_ok=True)
        stop_all(children)
        if started_redis:
            stop_embedded_redis(settings.var_dir)  # flushes the AOF; the data stay under var/


def _chosen_environ(settings: Settings, redis_url: str | None) -> dict[str, str]:
    """The values ``hotline dev`` chose rather than read, which every child must share
    (REDIS_URL only when it is the Redis to use: with Sentinels, the children ask them)."""
    return {
        **({"REDIS_URL": redis_url} if redis_url else {}),
        "PUBLIC_BASE_URL": settings.public_base_url,
        "SECRET_KEY": settings.secret_key,
        "HOTLINE_API_TOKEN": settings.hotline_api_token,
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "TWILIO_API_BASE_URL": settings.twilio_api_base_url,
        "HOTLINE_NUMBER": settings.hotline_number,
    }


def write_dev_running(settings: Settings, redis_url: str | None, standin: bool) -> Path:
    """Write where this ``hotline dev`` serves everything to ``var/dev.json``; its path."""
    running = {
        "pid": os.getpid(),
        "web": f"http://127.0.0.1:{settings.port}",
        "public_base_url": settings.public_base_url,
        "standin": settings.twilio_standin_url if standin else None,
        "redis": without_password(redis_url) if redis_url else None,
    }
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    path = settings.var_dir / DEV_RUNNING
    path.write_text(json.dumps(running, indent=2) + "\n")
    return path


def read_dev_running(var_dir: Path) -> dict[str, Any] | None:
    """What ``var/dev.json`` says, if the ``hotline dev`` that wrote it still runs."""
    path = var_dir / DEV_RUNNING
    try:
        running = dict(json.loads(path.read_text()))
        os.kill(int(running["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return running


def without_password(url: str) -> str:
    """``url`` with any password taken out (what may be written down or printed)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))


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
    values = {name: value for name, value in random_secrets().items() if name in KEPT_SECRETS}
    fd = os.open(var_dir / DEV_SECRETS, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values
