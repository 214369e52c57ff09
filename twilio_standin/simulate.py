"""A scenario against a running Hotline and stand-in, over HTTP only: counselors through the
JSON API, callers through the stand-in's control API; then a summary and any anomaly.

Used by ``hotline simulate``. An anomaly is a lead lost (a call that left no lead), a
counselor or caller rung while already on a call, or a webhook that failed.
"""

from __future__ import annotations

import contextlib
import math
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from twilio_standin.phones import HANG_UP, Script

#: Lead statuses after which nothing more happens.
FINAL = frozenset({"connected", "unreachable", "failed", "cancelled", "removed"})
#: Consecutive missing lead ids after which the scan stops (more than a block of lead ids a
#: process may leave unused: routing.ids.BLOCK).
SCAN_GAP = 25
#: Call seconds a simulated counselor spends on their notes after a call before pressing
#: ready (on the stand-in's clock, like the calls: Hotline's WRAPUP_SECONDS is the most).
NOTES_SECONDS = 45.0


@dataclass
class Scenario:
    """How many people, and how they behave."""

    callers: int = 50
    counselors: int = 5
    seed: int = 1
    #: Real seconds over which the callers dial in.
    arrival_seconds: float = 10.0
    #: Real seconds to wait for every lead to settle before summarising.
    timeout: float = 300.0
    #: Call-time speed of the stand-in during the run (None: leave it as it runs).
    speed: float | None = None


@dataclass
class Summary:
    """What happened."""

    callers: int = 0
    leads: int = 0
    #: Real seconds the run took, from the first counselor to the summary.
    seconds: float = 0.0
    #: Real seconds from the first caller dialing in to the last.
    dialing_seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    connected: int = 0
    retries: int = 0
    unreachable: int = 0
    callback_seconds: list[float] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)

    @property
    def pending(self) -> int:
        """Leads not yet final (waiting, being called back, or waiting for a retry)."""
        return sum(n for s, n in self.statuses.items() if s not in FINAL)

    def percentile(self, p: float) -> float | None:
        """The p-th percentile of time to callback, by nearest rank like Hotline's reports
        (written out here: the stand-in imports nothing of Hotline)."""
        values = sorted(self.callback_seconds)
        if not values:
            return None
        return values[max(1, math.ceil(p / 100 * len(values))) - 1]

    def lines(self) -> list[str]:
        """The printed summary."""
        median = statistics.median(self.callback_seconds) if self.callback_seconds else None
        p90 = self.percentile(90)

        def secs(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.1f}s"

        statuses = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "none"
        out = [
            f"callers:              {self.callers}",
            f"leads created:        {self.leads}",
            f"callbacks connected:  {self.connected}",
            f"retries:              {self.retries}",
            f"unreachable:          {self.unreachable}",
            f"still pending:        {self.pending}",
            f"time to callback:     median {secs(median)}, p90 {secs(p90)} (real time)",
            f"lead statuses:        {statuses}",
            f"took:                 {self.seconds:.0f}s",
            f"anomalies:            {len(self.anomalies)}",
        ]
        out += [f"  - {a}" for a in self.anomalies]
        return [*out, self.outcome()]

    def outcome(self) -> str:
        """The summary in one sentence."""
        lost = self.callers - self.leads
        if self.pending or lost:
            done = f"{self.pending} callers still waiting for a callback at the timeout"
            done += f", {lost} calls left no lead" if lost else ""
        else:
            done = (
                f"every caller was called back: {self.connected} reached a counselor, "
                f"{self.unreachable} not reached after every retry"
            )
        problems = f"{len(self.anomalies)} anomalies" if self.anomalies else "no anomalies"
        return f"outcome: {done}; {problems}."


def plan_counselor(
    rng: random.Random, offers: int = 300, talk: tuple[float, float] = (60, 600)
) -> list[Script]:
    """One script per offer: mostly accepts (talking ``talk`` seconds of call time);
    sometimes rings out, declines or voicemail."""
    day = []
    for _ in range(offers):
        roll = rng.random()
        if roll < 0.05:
            day.append(Script.rings_out())
        elif roll < 0.09:
            day.append(Script.declines("2"))
        elif roll < 0.11:
            day.append(Script.voicemail())
        else:
            day.append(Script.answers("1", talk_seconds=rng.uniform(*talk)))
    return day


def plan_caller(rng: random.Random) -> list[Script]:
    """The IVR keys (language, situation, urgency, insurance, confirm) and then how the
    phone behaves at each callback attempt."""
    urgent = rng.random() < 0.3
    ivr: tuple[str | None, ...] = (
        "2" if rng.random() < 0.3 else "1",
        rng.choice("12"),
        "1" if urgent else "2",
        rng.choice("123456"),
        "1",
    )
    if rng.random() < 0.05:
        ivr = ivr[:2] + (HANG_UP,)
    elif rng.random() < 0.05:
        ivr = (ivr[0], None, *ivr[1:])  # misses one menu and is asked again
    talk = Script.answers(talk_seconds=rng.uniform(60, 900))
    roll = rng.random()
    if roll < 0.10:
        then = [Script.busy(), talk]
    elif roll < 0.20:
        then = [Script.rings_out(), talk]
    elif roll < 0.25:
        then = [Script.voicemail(), talk]
    elif roll < 0.28:
        then = [Script.busy()]
    else:
        then = [talk]
    return [Script.caller(*ivr), *then]


class Simulation:
    """Runs a Scenario against ``hotline_url`` (JSON API) and ``standin_url``."""

    def __init__(
        self,
        hotline_url: str,
        standin_url: str,
        api_token: str,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.hotline = hotline_url.rstrip("/")
        self.standin = standin_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_token}"
        # A kept-alive connection the server closed just as we reused it is retried on a
        # fresh one: any request that failed to connect, and reads (GET) that lost their
        # connection. An HTTP error status is an answer and is never retried.
        retry = Retry(total=2, connect=2, read=2, status=0, other=0, backoff_factor=0.1)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.echo = echo
        self.counselor_phones: set[str] = set()
        #: This run's counselors, by id.
        self.counselor_ids: set[str] = set()
        #: Call-time speed of the stand-in during the run.
        self.factor = 1.0

    # --- HTTP helpers ------------------------------------------------------------------

    def _api(self, method: str, path: str, json: Any = None) -> requests.Response:
        return self.session.request(method, self.hotline + path, json=json, timeout=15)

    def _control(self, method: str, path: str, json: Any = None) -> requests.Response:
        return requests.request(method, self.standin + "/_standin" + path, json=json, timeout=15)

    def _lead(self, lead_id: str) -> dict[str, Any] | None:
        response = self._api("GET", f"/api/leads/{lead_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def _last_lead_number(self) -> int:
        """A high lead number in use (lead ids are L000001, L000002, ..., minted in blocks
        per process, so with gaps: the scan from here keeps only this run's calls)."""
        n = 0
        step = 1
        while self._lead(f"L{n + step:06d}") is not None:
            n += step
            step *= 2
        while step > 1:
            step //= 2
            if self._lead(f"L{n + step:06d}") is not None:
                n += step
        return n

    # --- The run -----------------------------------------------------------------------

    def run(self, scenario: Scenario) -> Summary:
        """Set up, dial in, wait, summarise; the stand-in's clock runs at the scenario's
        speed meanwhile, and simulated counselors end their wrap-up when their notes are
        done."""
        health = self._control("GET", "/health")
        health.raise_for_status()
        if not health.json().get("voice"):
            raise RuntimeError("the stand-in is not connected to a hotline")
        clock = self._control("GET", "/clock")
        clock.raise_for_status()
        before = float(clock.json()["factor"])
        self.factor = scenario.speed or before
        if scenario.speed:
            self._control("PUT", "/clock", {"factor": scenario.speed}).raise_for_status()
        done = threading.Event()
        desk = threading.Thread(target=self._counselors_at_their_desks, args=(done,), daemon=True)
        try:
            desk.start()
            return self._run(scenario)
        finally:
            done.set()
            desk.join(5)
            if scenario.speed:
                self._control("PUT", "/clock", {"factor": before})

    def _run(self, scenario: Scenario) -> Summary:
        started = time.monotonic()
        rng = random.Random(scenario.seed)
        anomalies_before = len(self._control("GET", "/anomalies").json()["anomalies"])
        errors_before = len(self._control("GET", "/anomalies").json()["webhook_errors"])
        first_lead = self._last_lead_number() + 1
        # The same seed plays the same scenario; the callers' numbers are new for every run,
        # so a second run's callers are not taken for the first run's (who would then be
        # asked to keep or cancel their callback).
        numbers = random.Random(f"{scenario.seed}:{first_lead}:{time.time_ns()}")
        existing = self._existing_counselors()
        self.echo(f"counselors: {scenario.counselors}")
        for i in range(scenario.counselors):
            self._add_counselor(rng, i, existing)
        self.echo(f"callers: {scenario.callers} dialing in over {scenario.arrival_seconds:.0f}s")
        inbound: dict[str, str] = {}
        dialed: set[str] = set()
        gap = scenario.arrival_seconds / max(1, scenario.callers)
        # Each caller dials in at their own time from the start, however long dialing the
        # one before took (when the stand-in cannot keep up, dialing_seconds shows it).
        dialing_started = next_at = time.monotonic()
        for _ in range(scenario.callers):
            area = numbers.choice(["415", "212", "305", "713", "602"])
            number = f"+1{area}{numbers.randint(2000000, 9999999)}"
            while number in dialed:
                number = f"+1415{numbers.randint(2000000, 9999999)}"
            dialed.add(number)
            scripts = plan_caller(rng)
            self._control(
                "POST",
                "/phones",
                {
                    "number": number,
                    "scripts": [s.to_dict() for s in scripts],
                },
            ).raise_for_status()
            created = self._control("POST", "/calls", {"from": number})
            created.raise_for_status()
            inbound[created.json()["sid"]] = number
            next_at += rng.uniform(0, 2 * gap)
            time.sleep(max(0.0, next_at - time.monotonic()))
        dialing = time.monotonic() - dialing_started
        leads = self._wait(inbound, first_lead, scenario.timeout)
        summary = self._summarise(inbound, leads, anomalies_before, errors_before)
        summary.seconds = time.monotonic() - started
        summary.dialing_seconds = dialing
        return summary

    def _counselors_at_their_desks(self, done: threading.Event) -> None:
        """This run's counselors press ready NOTES_SECONDS of call time after a call
        (Hotline's wrap-up is real time, and the most they may take)."""
        since: dict[str, float] = {}
        session = requests.Session()  # its own: a Session is not shared between threads
        session.headers.update(self.session.headers)
        while not done.wait(0.2):
            try:
                listed = session.get(self.hotline + "/api/counselors", timeout=15)
            except requests.RequestException:
                continue
            if listed.status_code != 200:
                continue
            now = time.monotonic()
            wrapping = {
                c["id"]
                for c in listed.json()["counselors"]
                if c["id"] in self.counselor_ids and c["status"] == "wrap_up"
            }
            for cid in list(since):
                if cid not in wrapping:
                    del since[cid]
            for cid in wrapping:
                since.setdefault(cid, now)
                if now - since[cid] >= NOTES_SECONDS / self.factor:
                    # A 409 (the sweep ended the wrap-up and a callback came first) or a
                    # lost connection: nothing to do, the next look decides again.
                    with contextlib.suppress(requests.RequestException):
                        session.post(
                            f"{self.hotline}/api/counselors/{cid}/status",
                            json={"status": "available"},
                            timeout=15,
                        )
                    del since[cid]
        session.close()

    def _existing_counselors(self) -> dict[str, str]:
        """Counselors of earlier runs, id by name (a run reuses them: a number is one
        counselor's only)."""
        listed = self._api("GET", "/api/counselors")
        if listed.status_code != 200:
            raise RuntimeError(f"GET /api/counselors: {listed.status_code}")
        return {c["name"]: c["id"] for c in listed.json()["counselors"]}

    def _add_counselor(self, rng: random.Random, i: int, existing: dict[str, str]) -> None:
        """Counselor ``i`` (the same phone for the same seed), added or reused, available."""
        name = f"Simulated counselor {i + 1}"
        phone = f"+1646{rng.randint(2000000, 9999999)}"
        languages = ["en", "es"] if i % 2 == 0 else ["en"]
        insurance = [] if i % 3 else [rng.choice(["ppo", "hmo", "medicaid", "medicare"])]
        self.counselor_phones.add(phone)
        self._control(
            "POST",
            "/phones",
            {
                "number": phone,
                "scripts": [s.to_dict() for s in plan_counselor(rng)],
            },
        ).raise_for_status()
        if name in existing:
            cid = existing[name]
        else:
            body = {"name": name, "phone": phone, "languages": languages, "insurance": insurance}
            created = self._api("POST", "/api/counselors", body)
            if created.status_code != 201:
                raise RuntimeError(f"POST /api/counselors: {created.status_code} {created.text}")
            cid = created.json()["id"]
        self.counselor_ids.add(cid)
        made = self._api("POST", f"/api/counselors/{cid}/status", {"status": "available"})
        if made.status_code != 200:
            raise RuntimeError(f"POST /api/counselors/{cid}/status: {made.status_code}")

    def _scan_leads(self, first: int) -> dict[str, dict[str, Any]]:
        """Every lead from ``first`` on, by the CallSid that created it."""
        found: dict[str, dict[str, Any]] = {}
        n, missing = first, 0
        while missing < SCAN_GAP:
            batch = [f"L{i:06d}" for i in range(n, n + SCAN_GAP)]
            n += len(batch)
            for lead in self._read_leads(batch):
                if lead is None:
                    missing += 1
                    continue
                missing = 0
                for event in lead.get("events", []):
                    if event.get("event") == "call_received" and event.get("call_sid"):
                        found[event["call_sid"]] = lead
                        break
        return found

    def _read_leads(self, lead_ids: list[str]) -> list[dict[str, Any] | None]:
        """These leads (None for an id that is no lead), in order."""
        return [self._lead(lead_id) for lead_id in lead_ids]

    def _wait(
        self, inbound: dict[str, str], first: int, timeout: float
    ) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        leads: dict[str, dict[str, Any]] = {}
        last_report = 0.0
        while True:
            # Lead ids are minted in blocks per process, so the scan from the last id in use
            # before the run may also meet an earlier run's leads: only this run's count.
            leads = {sid: lead for sid, lead in self._scan_leads(first).items() if sid in inbound}
            settled = [sid for sid in inbound if sid in leads and leads[sid]["status"] in FINAL]
            if len(settled) == len(inbound) or time.monotonic() > deadline:
                return leads
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                self.echo(f"... {len(leads)} leads, {len(settled)} settled")
            time.sleep(2)

    def _summarise(
        self,
        inbound: dict[str, str],
        leads: dict[str, dict[str, Any]],
        anomalies_before: int,
        errors_before: int,
    ) -> Summary:
        summary = Summary(callers=len(inbound), leads=len(leads))
        for sid in inbound:
            if sid in leads:
                continue  # only a call that left no lead needs a look at how it ended
            call = self._control("GET", f"/calls/{sid}").json()
            if call.get("status") in ("completed", "canceled"):
                summary.anomalies.append(f"lead lost: inbound call {sid} left no lead")
        for lead in leads.values():
            status = lead["status"]
            summary.statuses[status] = summary.statuses.get(status, 0) + 1
            events = lead.get("events", [])
            summary.retries += sum(1 for e in events if e.get("event") == "retry_scheduled")
            connected = [e for e in events if e.get("event") == "connected"]
            if len(connected) > 1:
                summary.anomalies.append(f"lead {lead['lead']['id']} connected twice")
            if status == "connected" and connected:
                summary.callback_seconds.append(connected[0]["at"] - lead["lead"]["first_call_at"])
        summary.connected = summary.statuses.get("connected", 0)
        summary.unreachable = summary.statuses.get("unreachable", 0)
        seen = self._control("GET", "/anomalies").json()
        for anomaly in seen["anomalies"][anomalies_before:]:
            sid = anomaly.split("(")[1].split(")")[0] if "(" in anomaly else ""
            leg = self._control("GET", f"/calls/{sid}").json() if sid else {}
            who = (
                "counselor double-booked"
                if leg.get("to") in self.counselor_phones
                else "caller dialed twice at once"
            )
            summary.anomalies.append(f"{who}: {anomaly}")
        summary.anomalies += [
            f"webhook failed: {e['kind']} {e['url'].split('/twilio/')[-1]} -> {e['status']}"
            for e in seen["webhook_errors"][errors_before:]
        ]
        return summary
