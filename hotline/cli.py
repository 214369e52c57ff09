"""The ``hotline`` command: web, worker, dev and the operator's tools."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

import click

from hotline.logs import configure_logging, logging_config
from settings import Settings, SettingsError, load_settings


def _settings(dev: bool = False) -> Settings:
    """This process's settings, from its environment; a bad one stops the command."""
    try:
        return load_settings(os.environ, dev=dev)
    except SettingsError as exc:
        raise _configuration_error(exc) from None


def _configuration_error(exc: SettingsError) -> click.ClickException:
    return click.ClickException(f"configuration error: {exc}")


@click.group()
def main() -> None:
    """Hotline: callback routing for the addiction-treatment hotline."""


@main.command()
@click.option("--bind", default=None, help="host:port (default 0.0.0.0:$PORT)")
def web(bind: str | None) -> None:
    """Serve the web app and Twilio webhooks with gunicorn (production server)."""
    from gunicorn.app.base import BaseApplication

    settings = _settings()
    configure_logging(settings.log_level)
    metrics_dir, own_metrics_dir = _metrics_dir(settings)

    class HotlineWeb(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", bind or f"0.0.0.0:{settings.port}")
            self.cfg.set("workers", settings.web_concurrency)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 8)
            self.cfg.set("timeout", 30)
            # Longer than the 2 s default, so clients polling every second or two (the
            # dashboard, the simulator) rarely reuse a connection just as it is closed.
            self.cfg.set("keepalive", 10)
            # gunicorn's error and access logs go through the same redaction as ours (a
            # URL may carry a number however carefully our own URLs avoid one).
            self.cfg.set("loglevel", settings.log_level.lower())
            self.cfg.set("logconfig_dict", logging_config(settings.log_level))
            # No control socket (gunicornc, gunicorn 24+): nothing here uses it, and its
            # default place is under $HOME, which the container's user has none of.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)
            self.cfg.set("child_exit", _web_process_exited)
            if own_metrics_dir:
                self.cfg.set("on_exit", lambda _: shutil.rmtree(metrics_dir, ignore_errors=True))

        def load(self) -> Any:
            from hotline.app import create_app

            return create_app(settings)

    HotlineWeb().run()


def _metrics_dir(settings: Settings) -> tuple[str, bool]:
    """The directory of prometheus_client's multiprocess mode for this server's processes
    (hotline.metrics), and whether it is ours to remove at exit: PROMETHEUS_MULTIPROC_DIR
    if the operator set it, else an empty ``var/metrics/web-<pid>`` (the system's temporary
    directory if the var directory is not writable). Those of servers no longer running
    (killed before they could remove theirs) go. Set in the environment before gunicorn
    forks and before anything imports prometheus_client, which reads it once."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        return given, False
    try:
        parent = settings.var_dir / "metrics"
        parent.mkdir(parents=True, exist_ok=True)
        for stale in parent.glob("web-*"):
            if not _running(stale.name.removeprefix("web-")):
                shutil.rmtree(stale, ignore_errors=True)
        made = parent / f"web-{os.getpid()}"
        shutil.rmtree(made, ignore_errors=True)  # a dead server's of our pid (a container's 1)
        made.mkdir()
        chosen = str(made)
    except OSError:
        chosen = tempfile.mkdtemp(prefix="hotline-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = chosen
    return chosen, True


def _running(pid: str) -> bool:
    """Whether a process of this id is running (or its id is not a number: left alone)."""
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or an id no process has: left alone
    return True


def _web_process_exited(server: Any, worker: Any) -> None:
    """gunicorn's child_exit hook: tell prometheus_client a web process is gone (its
    samples still count; its live gauges, if any, no longer do)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty (tests).")
def worker(burst: bool) -> None:
    """Run an RQ worker (with RQ's scheduler) and the periodic sweep."""
    from workers.runner import run_worker

    settings = _settings()
    configure_logging(settings.log_level)
    run_worker(settings, burst=burst)


@main.command("worker-ready")
@click.option(
    "--max-age",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds since a worker's last heartbeat (default: the worker TTL, 60; an idle "
    "worker heartbeats every 45 s).",
)
@click.option("--hostname", default=None, help="Whose workers (default: this host's name).")
def worker_ready(max_age: float | None, hostname: str | None) -> None:
    """Exit 0 if a `hotline worker` on this host heartbeated to RQ lately, else 1 (the
    compose worker's healthcheck)."""
    from redis.exceptions import RedisError

    from workers.runner import WORKER_TTL, ready_workers
    from workers.services import build_services

    services = build_services(_settings())
    try:
        ready = ready_workers(services, max_age or WORKER_TTL, hostname)
    except RedisError as exc:
        click.echo(f"not ready: Redis: {type(exc).__name__}", err=True)
        sys.exit(1)
    if not ready:
        click.echo("not ready: no worker here heartbeated lately", err=True)
        sys.exit(1)
    click.echo(f"ready: {', '.join(ready)}")


@main.command()
@click.option("--workers", "worker_count", default=2, show_default=True)
def dev(worker_count: int) -> None:
    """Everything at once for a developer: embedded Redis, stand-in Twilio, web, workers."""
    from hotline.dev import dev_settings, run_dev

    try:
        settings = dev_settings(os.environ)
    except SettingsError as exc:
        raise _configuration_error(exc) from None
    run_dev(settings, os.environ, worker_count)


# --- Accounts (issue 5) ------------------------------------------------------------------


@main.group()
def users() -> None:
    """Web accounts: counselors, supervisors and admins."""


@users.command("add")
@click.option("--username", required=True, help="Sign-in name (2-40: letters, digits, . _ -).")
@click.option("--role", required=True, type=click.Choice(["counselor", "supervisor", "admin"]))
@click.option("--counselor-id", default="", help="The counselor record (required for a counselor).")
def users_add(username: str, role: str, counselor_id: str) -> None:
    """Create an account; the password is read from HOTLINE_NEW_PASSWORD or prompted for
    (never an argument, so it stays out of shell history and process lists)."""
    from hotline import users as accounts
    from routing.counselors import get_counselor
    from workers.services import build_services

    settings = _settings(dev=True)
    r = build_services(settings).redis
    if counselor_id and get_counselor(r, counselor_id) is None:
        raise click.ClickException(f"counselor_id: no counselor {counselor_id!r}")
    password = os.environ.get("HOTLINE_NEW_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    try:
        user = accounts.create_user(r, username, password, role, counselor_id=counselor_id)
    except accounts.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.username} ({user.id})")


#: How much faster call time runs on the stand-in during ``hotline simulate`` by default: a
#: day's worth of calls (rings, prompts, 1 to 15 minute conversations) in seconds.
DEMO_SPEED = 300.0


# Issue 4: a scenario against a running Hotline through the Twilio stand-in.
@main.command()
@click.option("--callers", default=50, show_default=True, type=click.IntRange(1, 5000))
@click.option("--counselors", default=5, show_default=True, type=click.IntRange(1, 200))
@click.option(
    "--url",
    default=None,
    help="The running Hotline (its JSON API); default: what `hotline dev` wrote to "
    "var/dev.json, else http://127.0.0.1:$PORT.",
)
@click.option(
    "--standin",
    "standin_url",
    default=None,
    help="The Twilio stand-in it is connected to; default: from var/dev.json, else "
    "http://127.0.0.1:$STANDIN_PORT.",
)
@click.option(
    "--api-token",
    envvar="HOTLINE_API_TOKEN",
    default=None,
    help="Bearer token of the JSON API (default $HOTLINE_API_TOKEN, else the one "
    "`hotline dev` keeps under var/).",
)
@click.option("--seed", default=1, show_default=True, help="Same seed, same scenario.")
@click.option(
    "--arrival-seconds",
    default=10.0,
    show_default=True,
    help="Real seconds over which the callers dial in.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=DEMO_SPEED,
    show_default=True,
    help="Call time on the stand-in runs this many times faster during the run (rings, "
    "prompts, talk; the simulated counselors' wrap-up too).",
)
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    help="Real seconds to wait for every lead to settle.",
)
def simulate(
    callers: int,
    counselors: int,
    url: str | None,
    standin_url: str | None,
    api_token: str | None,
    seed: int,
    arrival_seconds: float,
    speed: float,
    timeout: float,
) -> None:
    """Run callers and counselors through the stand-in; exit 1 on any anomaly."""
    from hotline.dev import read_dev_running
    from twilio_standin.simulate import Scenario, Simulation

    settings = _settings(dev=True)
    running = read_dev_running(settings.var_dir) or {}
    url = url or running.get("web") or f"http://127.0.0.1:{settings.port}"
    standin_url = standin_url or running.get("standin") or settings.twilio_standin_url
    api_token = api_token or _dev_api_token()
    if not api_token:
        raise click.UsageError("--api-token is required (or set HOTLINE_API_TOKEN)")
    scenario = Scenario(
        callers=callers,
        counselors=counselors,
        seed=seed,
        arrival_seconds=arrival_seconds,
        timeout=timeout,
        speed=speed,
    )
    try:
        summary = Simulation(url, standin_url, api_token, echo=click.echo).run(scenario)
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)
    if summary.anomalies:
        sys.exit(1)


def _dev_api_token() -> str | None:
    """The API token `hotline dev` generated and kept under the var directory, if any."""
    from hotline.dev import read_dev_secrets

    kept = read_dev_secrets(_settings(dev=True).var_dir)
    return (kept or {}).get("HOTLINE_API_TOKEN") or None
