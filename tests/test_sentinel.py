"""Redis Sentinel: the settings, the clients ``build_services`` makes with and without it,
compose's ``ha`` profile, and a real failover under traffic.

The failover tests start a real primary, a replica and three sentinels on loopback TCP
ports (quorum 2, down after 1 s), configured from ``deploy/sentinel.conf`` itself. Callers
go through the real IVR webhooks (Flask test client, eight at a time) and two real
``hotline worker`` processes run against the sentinels; the primary is killed with
``kill -9`` once half the callers have heard their place in line. Run alone with
``pytest -m sentinel -s`` to see the failover time.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import SentinelConnectionPool
from rq.connections import get_connection_kwargs

from hotline.app import create_app
from routing import counselors, keys
from routing.counselors import CounselorStatus
from routing.scripts import _script
from settings import DEFAULT_SENTINEL_MASTER, Settings, SettingsError, load_settings
from tests.callers import Caller
from tests.conftest import ROOT, Twilio, WorkerProcesses, free_port, wait_until
from workers.child_process import ChildProcess, stop_all
from workers.redis_server import redis_server_binary
from workers.services import (
    DEFAULT_QUEUE,
    HEALTH_CHECK_INTERVAL,
    Services,
    build_services,
)

pytestmark = pytest.mark.sentinel

MASTER = "mymaster"
#: Callers who must hear their place in line, half before the primary dies, half after.
CALLERS = 200
#: Callers in the IVR at once.
CONCURRENT = 8
#: The time a caller who heard the apology waits before the next call.
REDIAL_PAUSE = 0.05
PLACE = re.compile(r"number (\d+) in line")


# --- settings and clients (no server needed: nothing connects until used) -------------------


def sentinel_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    """``env`` pointed at Sentinels rather than REDIS_URL."""
    return {**env, "REDIS_URL": "", "REDIS_SENTINELS": "127.0.0.1:26379,[::1]:26380", **extra}


@pytest.mark.parametrize(
    ("extra", "bad"),
    [
        ({"REDIS_SENTINELS": "sentinel-1"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": "sentinel-1:port"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": "sentinel-1:70000"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": ":26379"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": " , "}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINEL_MASTER": "my master"}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_WAIT_MS": "0"}, "REDIS_WAIT_MS"),
        ({"REDIS_WAIT_MS": "5000"}, "REDIS_WAIT_MS"),  # not shorter than the socket timeout
        ({"REDIS_URL": "redis://127.0.0.1:6390/0"}, "REDIS_SENTINELS"),  # both
    ],
)
def test_sentinel_settings_are_validated(env: dict[str, str], extra: dict[str, str], bad: str):
    with pytest.raises(SettingsError, match=f"^{bad}:"):
        load_settings(sentinel_env(env, **extra))


@pytest.mark.parametrize(
    "name", ["REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_PASSWORD", "REDIS_PASSWORD", "REDIS_WAIT_MS"]
)
def test_sentinel_only_settings_need_sentinels(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}:"):
        load_settings({**env, name: "mymaster" if "MASTER" in name else "100"})


def test_sentinel_settings_read(env: dict[str, str]) -> None:
    s = load_settings(sentinel_env(env))
    assert s.redis_sentinels == (("127.0.0.1", 26379), ("::1", 26380))
    assert s.sentinel_master == MASTER and s.redis_wait_ms == 500
    assert not s.redis_is_embedded
    named = load_settings(sentinel_env(env, REDIS_SENTINEL_MASTER="hotline"))
    assert named.sentinel_master == "hotline"
    assert load_settings(env).sentinel_master == ""  # no Sentinels, no service name


def test_without_sentinels_build_services_is_unchanged(settings: Settings) -> None:
    assert settings.redis_url and not settings.redis_sentinels
    built = build_services(settings)
    for client, decode in ((built.redis, True), (built.rq_redis, False)):
        # Exactly the client build_services made from REDIS_URL before Sentinel existed.
        before = redis.Redis.from_url(
            settings.redis_url,
            decode_responses=decode,
            socket_timeout=settings.redis_socket_timeout,
            socket_connect_timeout=settings.redis_connect_timeout,
            health_check_interval=HEALTH_CHECK_INTERVAL,
            retry=Retry(NoBackoff(), 0),
        )
        pool = client.connection_pool
        assert type(pool) is type(before.connection_pool) is redis.ConnectionPool
        assert pool.connection_class is before.connection_pool.connection_class
        mine, theirs = get_connection_kwargs(client), get_connection_kwargs(before)
        assert mine.pop("retry").get_retries() == theirs.pop("retry").get_retries() == 0
        assert mine == theirs
        assert client.ping()
        before.close()


def test_with_sentinels_both_clients_come_from_master_for(env: dict[str, str]) -> None:
    settings = load_settings(sentinel_env(env, REDIS_PASSWORD="pw", REDIS_SENTINEL_PASSWORD="s"))
    built = build_services(settings)
    for client, decode in ((built.redis, True), (built.rq_redis, False)):
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool) and pool.is_master
        assert pool.service_name == MASTER
        kwargs = pool.connection_kwargs
        assert kwargs["decode_responses"] is decode
        assert kwargs["socket_timeout"] == settings.redis_socket_timeout
        assert kwargs["socket_connect_timeout"] == settings.redis_connect_timeout
        assert kwargs["health_check_interval"] == HEALTH_CHECK_INTERVAL
        assert kwargs["password"] == "pw"
        assert kwargs["retry"].get_retries() == 0  # a timed-out write is never sent again
        sentinels = pool.sentinel_manager.sentinels
        assert [s.connection_pool.connection_kwargs["password"] for s in sentinels] == ["s", "s"]
        assert sentinels[0].connection_pool.connection_kwargs["socket_timeout"] == 5.0


# --- docker compose's ha profile ---------------------------------------------------------


def test_compose_ha_profile_runs_sentinels_and_points_the_app_at_them() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    ha = {name for name, s in services.items() if "ha" in s.get("profiles", [])}
    sentinels = {"sentinel-1", "sentinel-2", "sentinel-3"}
    assert ha == {"redis-primary", "redis-replica", "web-ha", "worker-ha"} | sentinels
    assert "--replicaof" in services["redis-replica"]["command"]
    conf = (ROOT / "deploy" / "sentinel.conf").read_text()
    monitor = re.search(r"^sentinel monitor (\S+) (\S+) (\d+) (\d+)$", conf, re.M)
    assert monitor and monitor.groups() == (DEFAULT_SENTINEL_MASTER, "redis-primary", "6379", "2")
    env_names = {f.metadata["env"] for f in Settings.__dataclass_fields__.values()}
    for name in sentinels:
        command = " ".join(services[name]["command"])
        assert "--sentinel" in command and "/data/sentinel.conf" in command
        assert any("deploy/sentinel.conf" in v for v in services[name]["volumes"])
    for name in ("web-ha", "worker-ha"):
        environment = services[name]["environment"]
        assert set(environment) <= env_names and "REDIS_URL" not in environment
        listed = {
            host for host, _ in (x.split(":") for x in environment["REDIS_SENTINELS"].split(","))
        }
        assert listed == sentinels
        assert environment["REDIS_SENTINEL_MASTER"] == monitor.group(1)
        assert set(services[name]["depends_on"]) == sentinels
    for name in ("web-ha", "worker-ha"):  # the same commands as the single-Redis stack
        assert services[name]["command"] == services[name.removesuffix("-ha")]["command"]


# --- a real primary, replica and three sentinels -------------------------------------------


class Cluster:
    """A primary, a replica and three sentinels on loopback, in ``directory``."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.processes: dict[str, ChildProcess] = {}
        self.ports: dict[str, int] = {}

    def _start(self, name: str, args: list[str]) -> None:
        # Its output is its log file: nothing is written to ours.
        self.processes[name] = ChildProcess([redis_server_binary(), *args], own_group=False)

    def _server(self, name: str, *extra: str) -> None:
        port = self.ports[name] = free_port()
        data = self.directory / name
        data.mkdir()
        args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""]
        self._start(name, [*args, "--logfile", str(data / "redis.log"), *extra])
        wait_until(lambda: self._answers(port), timeout=10)

    def start(self) -> Cluster:
        """Start everything and wait until the sentinels know the replica and each other."""
        # Redis 7 waits 5 s before a diskless full sync, for more replicas to join.
        self._server("primary", "--repl-diskless-sync-delay", "0")
        self._server("replica", "--replicaof", "127.0.0.1", str(self.ports["primary"]))
        wait_until(self._replica_online, timeout=30, interval=0.1)
        template = (ROOT / "deploy" / "sentinel.conf").read_text()
        for n in (1, 2, 3):
            name = f"sentinel-{n}"
            port = self.ports[name] = free_port()
            data = self.directory / name
            data.mkdir()
            conf = data / "sentinel.conf"
            conf.write_text(
                template.replace("port 26379", f"port {port}")
                .replace("redis-primary 6379", f"127.0.0.1 {self.ports['primary']}")
                .replace(
                    "down-after-milliseconds mymaster 5000", "down-after-milliseconds mymaster 1000"
                )
                .replace("failover-timeout mymaster 30000", "failover-timeout mymaster 3000")
                + f"bind 127.0.0.1\ndir {data}\nlogfile {data / 'sentinel.log'}\n"
            )
            self._start(name, [str(conf), "--sentinel"])
        wait_until(self._sentinels_ready, timeout=30, interval=0.2)
        return self

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            return bool(redis.Redis(port=port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def _replica_online(self) -> bool:
        replicas = self.client("primary").info("replication")
        return bool(replicas.get("slave0", {}).get("state") == "online")

    def sentinel(self, n: int) -> redis.Redis:
        """A client of sentinel ``n``."""
        return redis.Redis(port=self.ports[f"sentinel-{n}"], decode_responses=True)

    def _sentinels_ready(self) -> bool:
        try:
            states = [self.sentinel(n).sentinel_master(MASTER) for n in (1, 2, 3)]
        except redis.RedisError:
            return False
        return all(s["num-slaves"] == 1 and s["num-other-sentinels"] == 2 for s in states)

    def masters(self) -> set[int]:
        """The primary's port as each sentinel reports it."""
        found = set()
        for n in (1, 2, 3):
            host, port = self.sentinel(n).sentinel_get_master_addr_by_name(MASTER)
            found.add(int(port))
        return found

    def env(self) -> dict[str, str]:
        """REDIS_SENTINELS for these sentinels."""
        listed = ",".join(f"127.0.0.1:{self.ports[f'sentinel-{n}']}" for n in (1, 2, 3))
        return {"REDIS_URL": "", "REDIS_SENTINELS": listed}

    def client(self, name: str) -> redis.Redis:
        """A plain client of one server (the test's own look at it)."""
        return redis.Redis(port=self.ports[name], decode_responses=True)

    def stop(self) -> None:
        """Stop every process still running."""
        stop_all(self.processes.values())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A started primary, replica and three sentinels."""
    started = Cluster(tmp_path)
    try:
        yield started.start()
    finally:
        started.stop()


@dataclass
class Line:
    """The app (test client) and workers, connected through the sentinels."""

    services: Services
    app: Any
    workers: WorkerProcesses
    told: dict[str, int] = field(default_factory=dict)  # CallSid -> place heard
    apologised: list[Caller] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, number: str) -> Caller:
        """One caller through the whole IVR (English, for themselves, not urgent, no
        insurance, confirming their caller ID); notes what they heard."""
        caller = Caller(Twilio(self.app.test_client()), number)
        caller.dials()
        for key in ("1", "1", "1", "3", "1"):
            if caller.step is None:  # the apology ends the call at any step
                break
            caller.presses(key)
        heard = PLACE.search(caller.said)
        with self.lock:
            if heard:
                self.told[caller.call_sid] = int(heard.group(1))
            else:
                assert "something went wrong on our side" in caller.said, caller.said
                self.apologised.append(caller)
        return caller


@pytest.fixture
def line(cluster: Cluster, env: dict[str, str]) -> Iterator[Line]:
    """The app and two workers on the cluster (fast sweep)."""
    env.update(cluster.env(), SWEEP_INTERVAL="1")
    settings = load_settings(env)
    services = build_services(settings)
    app = create_app(settings, services, test_config={"TESTING": True})
    pool = WorkerProcesses(env)
    pool.start(2)
    try:
        yield Line(services, app, pool)
    finally:
        pool.stop()
        services.redis.close()
        services.rq_redis.close()


def lead_in_line(r: redis.Redis, call_sid: str) -> bool:
    """Whether the call's lead exists, is waiting and is in the queue."""
    lead_id = r.get(keys.CALL_LEAD.format(call_sid))
    if not lead_id:
        return False
    status = r.hget(keys.LEAD.format(lead_id), "status")
    return status == "waiting" and r.zscore(keys.WAITING_ALL, lead_id) is not None


def test_a_caller_is_answered_when_no_replica_acknowledges(
    cluster: Cluster, line: Line, caplog: pytest.LogCaptureFixture
) -> None:
    replica = cluster.processes["replica"]
    caller = line.call("+12125551000")
    assert caller.call_sid in line.told  # with the replica: no warning
    assert "on no replica" not in caplog.text
    replica.signal(signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, logger="routing.intake"):
            started = time.monotonic()
            caller = line.call("+12125551001")
            waited = time.monotonic() - started
    finally:
        replica.signal(signal.SIGCONT)
    assert caller.call_sid in line.told and line.told[caller.call_sid] == 2
    assert "on no replica after 500 ms" in caplog.text
    assert 0.5 <= waited < 3  # WAIT's timeout, not the socket's


def test_failover_under_traffic_loses_no_caller_told_a_place(cluster: Cluster, line: Line) -> None:
    primary_port, replica_port = cluster.ports["primary"], cluster.ports["replica"]
    numbers = iter(f"+1212555{n:04d}" for n in range(2000, 9999))
    times: dict[str, float] = {}

    def watch_sentinels() -> None:
        while cluster.masters() != {replica_port}:
            time.sleep(0.02)
        times["promoted"] = time.monotonic()

    def one_caller(number: str) -> None:
        dialed = time.monotonic()
        caller = line.call(number)
        if caller.call_sid not in line.told:
            time.sleep(REDIAL_PAUSE)  # the next caller, a little later
        with line.lock:
            if dialed > times.get("killed", dialed) and caller.call_sid in line.told:
                times.setdefault("served", time.monotonic())
            if len(line.told) >= CALLERS // 2 and "killed" not in times:
                times["killed"] = time.monotonic()
                cluster.processes["primary"].kill()  # kill -9, callers still in the IVR
                threading.Thread(target=watch_sentinels, daemon=True).start()

    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        calls: list[Future[None]] = []
        while len(line.told) < CALLERS and time.monotonic() - started < 90:
            if sum(not f.done() for f in calls[-CONCURRENT:]) < CONCURRENT:
                calls.append(pool.submit(one_caller, next(numbers)))
            else:
                time.sleep(0.005)
        for f in calls:
            f.result()  # a caller who heard neither a place nor the apology fails here
    assert "killed" in times, "the primary was never killed"

    # Failover happened: every sentinel names the old replica.
    wait_until(lambda: "promoted" in times, timeout=30, interval=0.1)
    failover_seconds = times["promoted"] - times["killed"]
    assert cluster.masters() == {replica_port} and primary_port not in cluster.masters()
    new_master = cluster.client("replica")
    assert new_master.info("replication")["role"] == "master"
    assert len(line.told) >= CALLERS, f"only {len(line.told)} callers heard a place in 90 s"
    outage_seconds = times["served"] - times["killed"]

    # Every caller told a place has a lead, waiting and in line, on the new primary.
    lost = [sid for sid in line.told if not lead_in_line(new_master, sid)]
    assert not lost, f"{len(lost)} callers heard a place and have no lead in line"
    assert new_master.zcard(keys.WAITING_ALL) >= len(line.told)

    # Twilio sends the status callback of the calls that heard the apology: a call cut off
    # mid-IVR is queued as a hang-up, and none is left in intake.
    for caller in line.apologised:
        caller.hangs_up()
    intake = [
        lead_id
        for lead_id in new_master.zrange(keys.LEADS_BY_TIME, 0, -1)
        if new_master.hget(keys.LEAD.format(lead_id), "status") == "intake"
    ]
    assert not intake, f"leads left in intake: {intake}"

    # The app keeps working on the new primary, and a script it never saw is loaded again.
    sha = _script("ivr_step").sha
    had_script = new_master.script_exists(sha)[0]
    new_master.script_flush()
    caller = line.call("+12125551999")
    assert caller.call_sid in line.told and lead_in_line(new_master, caller.call_sid)
    assert new_master.script_exists(sha)[0]

    # A worker keeps working on the new primary: a job runs a Lua script there.
    r = line.services.redis
    counselor = counselors.create_counselor(r, "Ana", "+12125558888", ["es"])
    assert counselors.set_state(r, counselor, (counselor.status,), CounselorStatus.WRAP_UP.value)
    job = line.services.queue(DEFAULT_QUEUE).enqueue("workers.jobs.end_wrapup", counselor.id)
    wait_until(lambda: job.get_status(refresh=True) == "finished", timeout=30, interval=0.1)
    status = new_master.hget(keys.COUNSELOR.format(counselor.id), "status")
    assert status == CounselorStatus.AVAILABLE.value

    print(
        f"\nsentinel failover: {failover_seconds:.1f} s from kill -9 to a new primary, "
        f"{outage_seconds:.1f} s until a caller who dialed after the kill was told a place; "
        f"{len(line.told)} callers heard a place, all in line; "
        f"{len(line.apologised)} heard the apology (the outage) and were queued on hang-up; "
        f"intake_complete on the replica before: {bool(had_script)}"
    )
