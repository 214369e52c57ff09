"""The fault suite: a busy period of 200 callers and 10 counselors played through the Twilio
stand-in while the real world misbehaves, one mode at a time, then the invariants checked
once the sweep has had its turn:

- every caller who reached the IVR has a lead;
- no lead is in a non-final state without a timer that will move it;
- no counselor is reserved or on a call without a live call at the stand-in;
- no number is on two calls at once;
- nobody is bridged to a voicemail.

Modes: lost status callbacks (10 %), duplicated and late callbacks, asynchronous answering-
machine detection with ``unknown`` answers, ``kill -9`` of a worker five times, ``kill -9``
of Redis (AOF everysec) for 5-10 s, an account-level error for 30 s then recovery.

Each mode's figures (callers, leads, lost, stuck, seconds to recover) are printed and
written to ``var/fault-report.md``. Run alone with ``pytest -m faults``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from werkzeug.serving import make_server

from hotline.app import create_app
from routing import keys
from routing.leads import Lead
from settings import load_settings
from tests.conftest import ROOT, WorkerProcesses, wait_until
from tests.served import FAST_ENV, Line
from tests.test_e2e_busy_hour import overlaps
from twilio_standin import Clock, Script, StandIn
from twilio_standin.faults import UNVERIFIED_FROM, Faults
from twilio_standin.simulate import plan_counselor
from workers.redis_server import RedisProcess
from workers.services import build_services

pytestmark = pytest.mark.faults

CALLERS = 200
COUNSELORS = 10
#: Call-clock seconds per real second.
SPEED = 200.0
#: Real seconds callers take to arrive.
ARRIVALS = 10.0
#: Real seconds a mode may take to serve everyone before the invariants are checked.
BUDGET = 75.0
FINAL = {"connected", "unreachable", "failed", "cancelled", "removed"}
#: How long our timers are here (real seconds): a lost webhook costs about this much.
FAULT_ENV = {
    **FAST_ENV,
    "LEASE_SECONDS": "8",
    "INTAKE_CHECK_SECONDS": "10",
    "MAX_MISSED_OFFERS": "50",
    "CALLER_RING_SECONDS": "15",
    "COUNSELOR_RING_SECONDS": "10",
    "RETRY_DELAYS": "1,1,1",
}
REPORT = ROOT / "var" / "fault-report.md"


@dataclass
class Served:
    """Hotline on its own Redis (AOF everysec), a stand-in and three workers."""

    line: Line
    redis_server: RedisProcess
    workers: WorkerProcesses
    rng: random.Random
    inbound: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@pytest.fixture
def serve(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[Faults], Served]]:
    """``serve(faults)``: a whole Hotline whose stand-in plays ``faults``."""
    started: list[Any] = []

    def start(faults: Faults) -> Served:
        server_dir = tmp_path / "redis"
        redis_server = RedisProcess(server_dir, appendonly=True).start()
        started.append(redis_server.stop)
        standin = StandIn(
            env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"], clock=Clock(SPEED), faults=faults
        ).start()
        env.update(FAULT_ENV)
        env["REDIS_URL"] = redis_server.url
        env["TWILIO_API_BASE_URL"] = standin.url
        holder: dict[str, Any] = {}
        http = make_server("127.0.0.1", 0, lambda e, s: holder["app"](e, s), threaded=True)
        base = f"http://127.0.0.1:{http.server_port}"
        env["PUBLIC_BASE_URL"] = base
        settings = load_settings(env)
        holder["app"] = create_app(settings, build_services(settings))
        threading.Thread(
            target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        standin.connect(base)
        workers = WorkerProcesses(dict(env))
        workers.start(3)
        r = redis.Redis.from_url(redis_server.url, decode_responses=True)
        started.extend([standin.stop, workers.stop, http.shutdown])  # stopped in reverse
        return Served(Line(base, standin, r, workers), redis_server, workers, random.Random(7))

    yield start
    for stop in reversed(started):
        stop()


def caller_plan(rng: random.Random, machines: float) -> tuple[tuple[str | None, ...], list[Script]]:
    """IVR keys, then how the phone behaves at each callback (a person presses 1 if asked)."""
    ivr: tuple[str | None, ...] = (
        "2" if rng.random() < 0.2 else "1",
        rng.choice("12"),
        rng.choice("12"),
        rng.choice("123456"),
        "1",
    )
    person = Script.answers("1", talk_seconds=rng.uniform(20, 90))
    roll = rng.random()
    if roll < machines / 2:
        return ivr, [Script.voicemail(), person]
    if roll < machines:
        return ivr, [Script("unknown"), person]
    if roll < machines + 0.1:
        return ivr, [Script.busy(), person]
    return ivr, [person]


def play(
    served: Served, machines: float = 0.05, chaos: Callable[[Served], None] | None = None
) -> dict[str, Any]:
    """Counselors, then callers arriving over ARRIVALS seconds while ``chaos`` runs; wait
    for everyone to be served (or BUDGET), then for the sweep; check every invariant."""
    line, rng = served.line, served.rng
    for i in range(COUNSELORS):
        line.counselor(
            f"C{i}", f"+1212555{1000 + i}", plan_counselor(rng, offers=200, talk=(20, 90))
        )
    numbers = [f"+1415{n}" for n in rng.sample(range(2000000, 9999999), CALLERS)]
    started = time.monotonic()
    trouble = threading.Thread(target=chaos, args=(served,)) if chaos else None
    if trouble:
        trouble.start()
    for number in numbers:
        ivr, callbacks = caller_plan(rng, machines)
        served.inbound[number] = line.calls_in(number, ivr, *callbacks)
        time.sleep(ARRIVALS / CALLERS * rng.uniform(0, 2))
    if trouble:
        trouble.join()
    wait_until(lambda: all(c.is_final for c in served.inbound.values()), 60, interval=0.2)
    try:
        wait_until(
            lambda: not pending(served), max(5.0, BUDGET - (time.monotonic() - started)), 0.5
        )
    except AssertionError:
        pass
    served_in = time.monotonic() - started
    line.settle()
    # Once every call has ended, the sweep settles what no webhook told us about.
    quiet = time.monotonic()
    settle = int(FAULT_ENV["LEASE_SECONDS"]) + int(FAULT_ENV["INTAKE_CHECK_SECONDS"]) + 10
    try:
        wait_until(lambda: not stuck(served), settle, 0.5)
    except AssertionError:
        pass
    return check(served, served_in, time.monotonic() - quiet)


def leads_by_number(served: Served) -> dict[str, Lead | None]:
    """Each caller's lead, by the CallSid of their inbound call."""
    r = served.line.r
    out: dict[str, Lead | None] = {}
    for number, call in served.inbound.items():
        lead_id = r.get(keys.CALL_LEAD.format(call.sid))
        data = r.hgetall(keys.LEAD.format(lead_id)) if lead_id else {}
        out[number] = Lead.from_redis(data) if data else None
    return out


def pending(served: Served) -> list[str]:
    """Leads not final yet (retries still to come)."""
    return [n for n, lead in leads_by_number(served).items() if lead and lead.status not in FINAL]


def reached_ivr(call: Any) -> bool:
    """Whether a caller heard a menu of ours (a Gather), not only an error."""
    return any(e["event"] == "gather" for e in call.log)


def has_timer(r: Any, lead_id: str) -> bool:
    """Whether a lead is final or has the timer its state needs, read as one snapshot: the
    lead is WATCHed, so a lead that moves between reading it and reading its timer (the
    sweep ending a reservation, say) counts as moving, which it is."""
    key = keys.LEAD.format(lead_id)
    with r.pipeline() as pipe:
        try:
            pipe.watch(key)
            status, reservation = pipe.hmget(key, "status", "reservation")
            if status is None or status in FINAL:
                return True
            pipe.multi()
            if status == "intake":
                pipe.zscore(keys.INTAKE, lead_id)
            elif status == "waiting":
                pipe.zscore(keys.WAITING_ALL, lead_id)
            elif status == "reserved":
                pipe.zscore(keys.LEASES, reservation or "")
            else:
                pipe.zscore(keys.DUE, lead_id)
            (score,) = pipe.execute()
        except redis.WatchError:
            return True
    return score is not None


def timerless(served: Served) -> list[str]:
    """Leads in a non-final state with nothing that will move them."""
    r = served.line.r
    out = []
    for lead in leads_by_number(served).values():
        if lead is None or lead.status in FINAL:
            continue
        if not has_timer(r, lead.id):
            out.append(f"{lead.id} {r.hget(keys.LEAD.format(lead.id), 'status')}")
    return out


def stuck(served: Served) -> list[str]:
    """Counselors held by a callback with no live call to their phone, leads without a
    timer, and callers still in the IVR long after their call ended."""
    r, standin = served.line.r, served.line.standin
    live = {c.to for c in standin.legs if not c.is_final}
    out = []
    for cid in r.smembers(keys.COUNSELORS):
        c = r.hgetall(keys.COUNSELOR.format(cid))
        if c.get("status") in ("reserved", "on_call") and c.get("phone") not in live:
            rid = c.get("reservation", "")
            state = r.hget(keys.RESERVATION.format(rid), "state")
            if state != "offered":  # an offer whose dial job is about to ring them
                out.append(f"counselor {cid} {c.get('status')} ({rid} {state}) with no live call")
    out += timerless(served)
    out += [
        f"{lead.id} still in intake"
        for lead in leads_by_number(served).values()
        if lead is not None and lead.status == "intake"
    ]
    return out


def check(served: Served, served_in: float, settled_in: float) -> dict[str, Any]:
    """Every invariant; the mode's figures."""
    line = served.line
    leads = leads_by_number(served)
    lost = [n[-2:] for n, call in served.inbound.items() if reached_ivr(call) and leads[n] is None]
    counts: dict[str, int] = defaultdict(int)
    for lead in leads.values():
        counts[lead.status if lead else "none"] += 1
    still = stuck(served)
    overlapping = overlaps(line.standin.legs)
    voicemail_bridged = [
        leg.sid
        for leg in line.standin.legs
        if leg.direction == "outbound-dial"
        and leg.answered_by not in (None, "human")
        and any(e["event"] == "bridged" for e in leg.log)
    ]
    figures = {
        "callers": len(served.inbound),
        "reached_ivr": sum(reached_ivr(c) for c in served.inbound.values()),
        "leads": sum(1 for lead in leads.values() if lead),
        "lost": len(lost),
        "stuck": len(still),
        "statuses": dict(counts),
        "served_s": round(served_in, 1),
        "settled_s": round(settled_in, 1),
        "notes": served.notes,
    }
    problems = []
    if lost:
        problems.append(f"{len(lost)} callers who reached the IVR have no lead")
    if still:
        problems.append(f"stuck: {still[:5]}")
    if overlapping or line.standin.anomalies:
        problems.append(f"a number on two calls: {overlapping[:3]} {line.standin.anomalies[:3]}")
    if voicemail_bridged:
        problems.append(f"bridged to a machine: {voicemail_bridged[:3]}")
    figures["problems"] = problems
    return figures


def report(mode: str, figures: dict[str, Any]) -> None:
    """Print the mode's figures and add them to var/fault-report.md."""
    line = (
        f"| {mode} | {figures['callers']} | {figures['reached_ivr']} | {figures['leads']} | "
        f"{figures['lost']} | {figures['stuck']} | {figures['statuses'].get('connected', 0)} | "
        f"{figures['served_s']} | {figures['settled_s']} | {'; '.join(figures['notes'])} |"
    )
    print(f"\nfaults {mode}: {figures}")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    if not REPORT.exists():
        REPORT.write_text(
            "| mode | callers | reached the IVR | leads | lost | stuck | connected | s to serve "
            "(budget 75) | s for the sweep to settle the rest | notes |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n"
        )
    with REPORT.open("a") as out:
        out.write(line + "\n")


# --- The modes ------------------------------------------------------------------------------


def kill_workers(served: Served) -> None:
    """``kill -9`` of a worker five times, each replaced (as a supervisor process would)."""
    for _ in range(5):
        time.sleep(ARRIVALS / 6)
        alive = [p for p in served.workers.processes if p.alive()]
        victim = served.rng.choice(alive)
        victim.kill()
        served.workers.start(1)
    served.notes.append("5 workers killed")


def kill_redis(served: Served) -> None:
    """``kill -9`` of Redis in the middle of the arrivals, back (from its AOF) after 7 s."""
    time.sleep(ARRIVALS / 3)
    process = served.redis_server.process
    assert process is not None
    process.kill()
    down = time.monotonic()
    time.sleep(7)
    served.redis_server.start()
    served.notes.append(f"Redis down {time.monotonic() - down:.1f} s")


def account_error(served: Served) -> None:
    """Every call refused for the account (21210) for 30 s, then fixed."""
    standin = served.line.standin
    time.sleep(2)
    standin.set_faults(Faults(account_error=UNVERIFIED_FROM))
    time.sleep(30)
    standin.set_faults(Faults())
    served.notes.append("21210 for 30 s")


@pytest.mark.parametrize(
    ("mode", "faults", "machines", "chaos"),
    [
        ("lost status callbacks 10 %", Faults(seed=1, lose_status_callbacks=0.1), 0.05, None),
        (
            "duplicated and late callbacks",
            Faults(seed=2, duplicate_status_callbacks=0.2, delay_status_callbacks=200.0),
            0.05,
            None,
        ),
        ("asynchronous AMD, some unknown", Faults(seed=3), 0.3, None),
        ("kill -9 of a worker, 5 times", Faults(seed=4), 0.05, kill_workers),
        ("kill -9 of Redis for 7 s", Faults(seed=5), 0.05, kill_redis),
        ("account error 30 s, then fixed", Faults(seed=6), 0.05, account_error),
    ],
)
def test_nothing_is_stranded(
    serve: Callable[[Faults], Served],
    mode: str,
    faults: Faults,
    machines: float,
    chaos: Callable[[Served], None] | None,
) -> None:
    figures = play(serve(faults), machines, chaos)
    report(mode, figures)
    assert figures["problems"] == [], figures
    assert figures["statuses"].get("connected", 0) > 0, figures
