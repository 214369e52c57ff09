"""A child process Hotline's own tools start and stop: the embedded redis-server, the
processes ``hotline dev`` supervises, and those benchmarks and tests run (web, workers, the
stand-in). One way to start one, see that it lives, read its log and CPU, and stop it:
SIGTERM, then SIGKILL if it outlives the timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

#: Seconds a child has to exit after SIGTERM before it gets SIGKILL.
STOP_TIMEOUT = 10.0


class ChildProcess:
    """A running child. With ``log_path`` its output (stdout and stderr) goes to that file,
    else it is inherited. With ``own_group`` it leads a new process group and stop() signals
    the whole group (gunicorn's workers, RQ's work horses too); without, it stays in ours
    (so a Ctrl-C at the terminal reaches it as well)."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
        own_group: bool = True,
    ):
        self.args = args
        self.log_path = log_path
        self.own_group = own_group
        self._log: IO[bytes] | None = open(log_path, "wb") if log_path else None
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=self._log if self._log else None,
            stderr=subprocess.STDOUT if self._log else None,
            start_new_session=own_group,
        )

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to it (to its whole group if it leads one); nothing if it is gone."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            if self.own_group:
                os.killpg(self.popen.pid, signum)
            else:
                self.popen.send_signal(signum)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; its exit code."""
        self.signal(signal.SIGTERM)
        self._reap(timeout)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL (``kill -9``) and wait for it to be gone."""
        self.signal(signal.SIGKILL)
        self.popen.wait()

    def _reap(self, timeout: float) -> None:
        try:
            self.popen.wait(max(0.1, timeout))
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)
        if self._log:
            self._log.close()

    def tail(self, lines: int = 20) -> str:
        """The end of its log, for error messages ('' without a log)."""
        if not self.log_path:
            return ""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """CPU time (user + system) it and its reaped children used so far, with the rest of
        its group's when it leads one (gunicorn's workers); 0.0 where /proc is not there."""
        if self.own_group:
            return group_cpu_seconds(self.popen.pid)
        fields = _stat_fields(Path(f"/proc/{self.popen.pid}/stat"))
        return _cpu_of(fields) if fields else 0.0


def python_module(
    module: str,
    args: Iterable[str] = (),
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    cwd: Path | None = None,
    own_group: bool = True,
) -> ChildProcess:
    """``python -m <module> <args>`` with this interpreter."""
    return ChildProcess([sys.executable, "-m", module, *args], env, log_path, cwd, own_group)


def stop_all(children: Iterable[ChildProcess], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every child at once, then wait for each (SIGKILL after ``timeout`` in all)."""
    children = list(children)
    for child in children:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        child._reap(deadline - time.monotonic())


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes of a process group, including the
    reaped children each has waited for (from /proc; 0.0 where /proc is not there)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields and int(fields[2]) == pgid:
            total += _cpu_of(fields)
    return total


def _stat_fields(stat: Path) -> list[str] | None:
    """The fields of a /proc/<pid>/stat after the command name (which may hold spaces: split
    after its closing ')'): state, ppid, pgrp, ...; None if the process is gone."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu_of(fields: list[str]) -> float:
    """utime + stime + cutime + cstime (stat fields 14-17) in seconds."""
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
