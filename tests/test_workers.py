"""Real ``hotline worker`` processes: no double assignment with several at once, and a
worker killed in the middle of a dial loses nothing."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import redis

from routing import counselors as cs
from routing import keys
from routing.leads import Lead, get_lead
from routing.queue import add_waiting
from routing.reservation import ReservationState, get_reservation
from settings import load_settings
from tests.conftest import WorkerProcesses, wait_until
from tests.records import save_lead
from workers import jobs
from workers.services import build_services


def children(pid: int) -> list[int]:
    """Direct children of a process (an RQ worker's work horse)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def queue_lead(r: redis.Redis, settings: Any, n: int) -> Lead:
    lead = Lead(
        id=f"L{n:06d}",
        call_sid=f"CA{n}",
        phone="+12125550123",
        language=("en", "es")[n % 2],
        insurance=("ppo", "medicaid", "none")[n % 3],
        first_call_at=time.time() - n,
        created_at=time.time(),
    )
    save_lead(r, lead)
    add_waiting(r, settings, lead)
    return lead


def test_several_workers_never_double_assign(
    standin: Any, env: dict[str, str], r: redis.Redis, workers: WorkerProcesses
) -> None:
    env["SWEEP_INTERVAL"] = "1"
    env["CALLS_PER_SECOND"] = "200"
    env["WIDEN_AFTER_SECONDS"] = "0"
    settings = load_settings(env)
    workers.start(3)
    team = [
        cs.create_counselor(
            r,
            f"C{i}",
            f"+1312555{100 + i:04d}",
            ["en", "es"] if i % 2 else ["en"],
            [] if i % 3 else ["ppo"],
        )
        for i in range(20)
    ]

    def web_process(task: Any) -> None:
        # Each thread is a "web process" with its own clients, matching inline.
        services = build_services(settings)
        task(services)

    def free_counselors(services: Any) -> None:
        for c in team:
            cs.make_available(services.redis, c)
            jobs.request_match(services)

    def queue_leads(first: int) -> Any:
        def task(services: Any) -> None:
            for n in range(first, first + 20):
                queue_lead(services.redis, settings, n)
                jobs.request_match(services)

        return task

    threads = [
        threading.Thread(target=web_process, args=(t,))
        for t in (free_counselors, queue_leads(1), queue_leads(21))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def everyone_dialed() -> bool:
        return len(standin.calls) >= len(team) and all(
            cs.get_counselor(r, c.id).status == "reserved" for c in team
        )

    wait_until(everyone_dialed, timeout=60)
    time.sleep(2)  # let every sweep run at least once more: nothing may change

    reservations = [
        get_reservation(r, k.split(":")[-1]) for k in r.scan_iter(keys.RESERVATION.format("*"))
    ]
    live = [x for x in reservations if x is not None and x.active]
    by_counselor = [x.counselor_id for x in live]
    by_lead = [x.lead_id for x in live]
    assert len(by_counselor) == len(set(by_counselor)) == len(team)
    assert len(by_lead) == len(set(by_lead))
    for res in live:
        assert cs.get_counselor(r, res.counselor_id).reservation == res.id
        assert r.hget(keys.LEAD.format(res.lead_id), "reservation") == res.id
    # Each counselor was dialed exactly once, for the reservation they hold.
    dialed = sorted(call.to for call in standin.calls)
    assert dialed == sorted(c.phone for c in team)
    assert {call.url.split("/")[-2] for call in standin.calls} == {x.id for x in live}
    # The rest still wait, each exactly once, none lost.
    waiting = r.zrange(keys.WAITING_ALL, 0, -1)
    assert len(waiting) + len(live) == 40
    assert not set(waiting) & set(by_lead)


def test_worker_killed_mid_dial_loses_nothing(
    standin: Any, env: dict[str, str], r: redis.Redis, workers: WorkerProcesses
) -> None:
    env["SWEEP_INTERVAL"] = "1"
    env["LEASE_SECONDS"] = "5"
    settings = load_settings(env)
    services = build_services(settings)
    lead = queue_lead(r, settings, 1)
    counselor = cs.create_counselor(r, "Ana", "+13125550199", ["en", "es"], [])
    # Every call slot is taken for a long while: the dial job blocks after its guard.
    r.set(keys.PACING, repr(time.time() + 3600))
    [worker] = workers.start(1)
    cs.make_available(r, counselor)
    [first] = jobs.request_match(services)
    wait_until(lambda: r.exists(keys.DIAL_GUARD.format(first, "counselor")), timeout=20)

    for pid in [*children(worker.pid), worker.pid]:
        os.kill(pid, signal.SIGKILL)
    worker.popen.wait(timeout=10)
    assert standin.calls == []
    assert get_lead(r, lead.id).status == "reserved"

    r.delete(keys.PACING)
    workers.start(1)

    # The lease runs out, the sweep returns the callback to its place and it is offered
    # again: one call, for the new reservation, never two for the same offer.
    wait_until(lambda: len(standin.calls) == 1, timeout=60)
    assert get_reservation(r, first).state == ReservationState.RECLAIMED
    [call] = standin.calls
    second = call.url.split("/")[-2]
    assert second != first
    res = get_reservation(r, second)
    assert res.lead_id == lead.id and res.counselor_id == counselor.id
    assert res.score == get_reservation(r, first).score
    wait_until(lambda: get_reservation(r, second).state == ReservationState.COUNSELOR_RINGING)
    time.sleep(2)
    assert len(standin.calls) == 1


def test_a_worker_outlives_redis_going_away_in_the_middle_of_a_job(
    env: dict[str, str], tmp_path: Path
) -> None:
    from rq import Queue
    from rq.serializers import JSONSerializer

    from workers.redis_server import RedisProcess

    own = RedisProcess(tmp_path / "redis", appendonly=True).start()
    env["REDIS_URL"] = own.url
    pool = WorkerProcesses(env)
    try:
        [worker] = pool.start(1)
        rq_redis = redis.Redis.from_url(own.url)
        queue = Queue("hotline-default", connection=rq_redis, serializer=JSONSerializer)
        wait_until(lambda: rq_redis.smembers("rq:workers"), 20)
        queue.enqueue("time.sleep", 2)
        wait_until(lambda: queue.count == 0, 10)  # taken: the job is running
        assert own.process is not None
        own.process.kill()
        time.sleep(4)  # the job ends, RQ cannot record it, its loop gives up
        assert worker.alive()
        own.start()
        after = queue.enqueue("time.sleep", 0)
        wait_until(lambda: after.get_status(refresh=True) == "finished", 30)
        assert worker.alive()
    finally:
        pool.stop()
        own.stop()
