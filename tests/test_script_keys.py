"""Every key a Lua script touches is one it was given in KEYS: what Redis Cluster, and any
proxy that routes a script by its keys, requires (docs/ARCHITECTURE.md, "High availability
and cluster mode"). Checked on the wire: the test Redis is watched with MONITOR, which shows
each EVALSHA with its keys and then every command the script ran, while whole calls run
through the web app, real workers and the stand-in, and the rest of the scripts are run
directly."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from routing import counselors, intake, matching, queue
from routing.leads import LeadStatus, get_lead, set_status
from routing.scripts import LUA_DIR, _script
from settings import load_settings
from tests.conftest import wait_until
from tests.served import Line
from twilio_standin import Script

pytestmark = pytest.mark.e2e

#: English, for myself, not urgent, PPO, callback on this caller ID.
IVR_EN = ("1", "1", "2", "1", "1")
#: A quoted argument of a MONITOR line ("..." with C escapes).
ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            code = text[i + 1]
            if code == "x":
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(ESCAPES.get(code, code))
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


class Monitor:
    """MONITOR on a raw connection, in a thread: every command line, as (source, args)."""

    def __init__(self, socket_path: Path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(socket_path))
        self.sock.sendall(b"MONITOR\r\n")
        self.lines: list[tuple[str, list[str]]] = []
        self._buffer = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                return
            self._buffer += chunk
            *complete, self._buffer = self._buffer.split(b"\r\n")
            for raw in complete:
                line = raw.decode("utf-8", "replace")
                if not line.startswith("+") or "[" not in line:
                    continue  # +OK
                source = line[line.index("[") + 1 : line.index("]")].split()[-1]
                args = [_unquote(a) for a in ARG.findall(line[line.index("]") + 1 :])]
                self.lines.append((source, args))

    def stop(self) -> None:
        time.sleep(0.3)  # the last lines on their way
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def script_runs(self) -> list[tuple[str, list[str], list[list[str]]]]:
        """(sha, KEYS given, the commands it ran) of every script that ran."""
        runs: list[tuple[str, list[str], list[list[str]]]] = []
        for source, args in self.lines:
            if source == "lua":
                if runs:
                    runs[-1][2].append(args)
            elif args and args[0].upper() in ("EVALSHA", "EVAL"):
                numkeys = int(args[2])
                runs.append((args[1], args[3 : 3 + numkeys], []))
            else:
                runs.append(("", [], []))  # any other client's command ends a script's run
        return [run for run in runs if run[0] and run[2]]


def _keys_of(r: redis.Redis, command: list[str]) -> list[str]:
    try:
        return [str(k) for k in r.command_getkeys(*command)]
    except redis.ResponseError:  # a command with no key
        return []


def test_every_key_a_script_touches_is_passed_in_keys(
    line: Line, redis_server: Any, env: dict[str, str]
) -> None:
    settings = load_settings(env)  # as the running line has it (its own base URL)
    names = {
        _script(path.stem).sha: path.stem
        for path in LUA_DIR.glob("*.lua")
        if not path.stem.startswith("_")
    }
    monitor = Monitor(redis_server.socket)
    try:
        # A whole callback, through the web app, the workers and the stand-in.
        line.counselor("Ana", "+12125550101", Script.answers("1", talk_seconds=2))
        call = line.calls_in("+14155550111", IVR_EN, Script.answers(talk_seconds=2))
        lead_id = line.lead_of(call)
        line.wait_status(lead_id, "connected", "done")
        line.settle()
        # The rest of the scripts, run directly: a caller with a pending callback calling
        # again (found by number), a repeated delivery, a hang-up mid-IVR, a stale bucket
        # head, the counselor indexes, the wait estimate.
        r = line.r
        waiting = intake.answer_call(r, settings, "CA" + "1" * 32, "+14155550122")
        for step, digits in (("language", "1"), ("situation", "1"), ("urgency", "2")):
            intake.answer_step(r, settings, "CA" + "1" * 32, step, digits, None, waiting.lead_id)
        intake.answer_step(r, settings, "CA" + "1" * 32, "insurance", "1", None, waiting.lead_id)
        intake.answer_step(r, settings, "CA" + "1" * 32, "caller-id", "1", None, waiting.lead_id)
        again = intake.answer_call(r, settings, "CA" + "2" * 32, "+14155550122")
        assert again.lead_id == waiting.lead_id and again.state.pending
        intake.answer_call(r, settings, "CA" + "2" * 32, "+14155550122")  # repeated
        hung_up = intake.answer_call(r, settings, "CA" + "3" * 32, "+14155550133")
        assert intake.call_ended(r, settings, "CA" + "3" * 32, "completed") is not None
        left = get_lead(r, hung_up.lead_id)
        assert left is not None
        assert set_status(r, left, (LeadStatus.WAITING.value,), LeadStatus.CANCELLED.value, "none")
        r.zadd(queue.bucket_key("en", "unknown"), {left.id: 0})  # left behind in line
        extra = counselors.create_counselor(r, "Bo", "+12125550102", ["en"])
        assert counselors.make_available(r, extra)
        matching.match(r, settings)
        assert counselors.index_counselors(r) >= 1
        queue.estimate_wait_seconds(r, 1)
        wait_until(lambda: r.zscore(queue.bucket_key("en", "unknown"), left.id) is None)
    finally:
        monitor.stop()

    runs = monitor.script_runs()
    seen = {names.get(sha, sha) for sha, _, _ in runs}
    # The scripts of every path above ran (the check below cannot pass by seeing nothing).
    assert {
        "intake_open",
        "intake_load",
        "ivr_step",
        "intake_complete",
        "reserve",
        "drop_stale",
        "end_reservation",
        "counselor_state",
        "counselor_index",
        "wait_inputs",
        "lead_state",
    } <= seen, seen
    undeclared: dict[str, set[str]] = {}
    for sha, declared, commands in runs:
        for command in commands:
            for key in _keys_of(r, command):
                if key not in declared:
                    undeclared.setdefault(names.get(sha, sha), set()).add(key)
    assert undeclared == {}
