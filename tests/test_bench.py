"""The benchmarks stay working: each measurement runs at its tiny (--quick) size and returns
well-formed results; the report lists every figure with its bar. Nothing here asserts a
timing: speed is the benchmark's business (bench/RESULTS.md), not a unit test's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from bench import __main__ as bench_main
from bench.common import percentile
from bench.report import render, render_result
from bench.results import Figure, Result

#: Figures each measurement must report (by name), whatever their values.
EXPECTED = {
    "webhook": [
        "IVR / bare throughput, 16 connections",
        "IVR / bare throughput, 64 connections",
        "IVR p99 latency, 16 connections",
    ],
    "routing_scale": ["median match time, 5,000 / 100 waiting, 10 counselors"],
    "dispatch": ["dispatch latency p50", "dispatch latency p99"],
    "memory": ["memory per waiting callback, IVR session included"],
    "busy_hour": [
        "webhooks answered",
        "webhook latency p99",
        "anomalies",
        "callbacks connected",
        "CPU of web",
        "CPU of redis-server",
        "counselor calls placed",
        "webhook latency p99 at the server, at most",
    ],
    "durability": [
        "intake throughput, always / everysec",
        "webhook throughput, always / everysec",
    ],
}


@pytest.fixture(autouse=True)
def no_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never install packages: without wrk the threaded load generator is used."""
    monkeypatch.setenv("BENCH_NO_APT", "1")


@pytest.mark.parametrize("name", bench_main.MEASUREMENTS)
def test_measurement_runs_at_quick_size(name: str) -> None:
    """Each measurement completes and reports its figures, numbers, bars and verdicts."""
    module = __import__(f"bench.{name}", fromlist=["run"])
    result = module.run(quick=True)
    assert result.error is None, result.error
    names = [f.name for f in result.figures]
    for expected in EXPECTED[name]:
        assert expected in names, names
    for figure in result.figures:
        assert figure.value is not None and math.isfinite(figure.value), figure
        if figure.bar:
            assert figure.ok in (True, False), figure
        else:
            assert figure.ok is None, figure
    assert result.notes, "each measurement explains what it measured"
    values = {f.name: f.value for f in result.figures}
    if values.get("callbacks connected"):
        assert "time to callback p50" in values
    if result.table:
        header, *rows = result.table
        assert rows and all(len(row) == len(header) for row in rows)


def test_every_measurement_is_listed_and_has_expectations() -> None:
    """The command runs every measurement module in bench/, and this test covers each."""
    modules = {p.stem for p in Path(bench_main.__file__).parent.glob("*.py") if p.stem in EXPECTED}
    assert set(bench_main.MEASUREMENTS) == set(EXPECTED) == modules


def test_report_lists_each_figure_with_its_bar_and_verdict() -> None:
    """RESULTS.md: the machine, the command, a summary row per bar, PASS/SHORT beside it."""
    passing = Result("a", "Alpha", [Figure("speed", 2.0, "x", ">= 1", True)], notes=["n"])
    short = Result(
        "b",
        "Beta",
        [Figure("p99", 80.0, "ms", "< 50 ms", False), Figure("info", 3.0, "ms")],
        notes=["m"],
    )
    missing = Result("c", "Gamma", error="needs something")
    text = render([passing, short, missing], {"cores (nproc)": "2"}, "python -m bench", 60)
    assert "| cores (nproc) | 2 |" in text
    assert "`python -m bench`" in text
    assert "| Alpha | speed | 2 x | >= 1 | PASS |" in text
    assert "| Beta | p99 | 80 ms | < 50 ms | SHORT |" in text
    assert "| Gamma | | | | NOT MEASURED |" in text
    assert "b: p99 = 80 ms (bar < 50 ms)" in text
    assert "| info | 3 ms |  |  |" in render_result(short)


def test_a_broken_measurement_is_reported_not_raised() -> None:
    """One measurement failing does not stop the others; its error is in the report."""
    from bench.common import timed

    def broken(quick: bool) -> Result:
        raise RuntimeError("server died")

    result = timed(broken, True)
    assert result.error == "RuntimeError: server died"


@pytest.mark.parametrize(("pct", "expected"), [(50, 50), (90, 90), (99, 99), (100, 100), (1, 1)])
def test_percentile_is_nearest_rank(pct: float, expected: float) -> None:
    """Percentiles are observed values (nearest rank), not interpolations."""
    assert percentile([float(x) for x in range(100, 0, -1)], pct) == expected


def test_quick_command_writes_a_report(tmp_path: Path) -> None:
    """``python -m bench --quick --only memory --output X`` writes the report to X."""
    out = tmp_path / "RESULTS.md"
    code = bench_main.main(["--quick", "--only", "memory", "--output", str(out)])
    text = out.read_text()
    assert "## Machine" in text and "Memory per waiting callback" in text
    assert code in (0, 1)  # 1 only if a bar is missed: the report says which
    assert ("SHORT" in text) == (code == 1)


class FlakyTransport:
    """A transport whose first ``failures`` sends fail to connect, like a reused keep-alive
    connection the server has just closed."""

    def __init__(self, failures: int):
        self.failures = failures
        self.sent = 0

    def send(self, method: str, url: str, params: dict[str, str], signature: str) -> Any:
        import requests

        from twilio_standin.transport import WebhookResponse

        self.sent += 1
        if self.sent <= self.failures:
            raise requests.ConnectionError("Remote end closed connection without response")
        return WebhookResponse(200, "text/xml", "<Response/>")


def test_busy_hour_transport_retries_a_failed_connection_once_like_twilio() -> None:
    """One connection failure is retried (Twilio's rc=1) and counted; two are an error;
    with retries=0 (the stand-in retries itself) it is not retried twice."""
    import requests

    from bench.standin_timed import TimedTransport

    once = TimedTransport(FlakyTransport(failures=1), retries=1)
    assert once.send("POST", "http://h/twilio/voice", {}, "sig").status == 200
    assert [t[:2] for t in once.timings] == [("/twilio/voice", 200)]
    assert [path for path, _ in once.connection_failures] == ["/twilio/voice"]

    twice = TimedTransport(FlakyTransport(failures=2), retries=1)
    with pytest.raises(requests.ConnectionError):
        twice.send("POST", "http://h/twilio/status", {}, "sig")
    assert twice.timings[0][1] == 0 and "ConnectionError" in twice.timings[0][3]

    # A stand-in that retries by itself: the wrapper only times, never retries again.
    no_retry = TimedTransport(FlakyTransport(failures=1), retries=0)
    with pytest.raises(requests.ConnectionError):
        no_retry.send("POST", "http://h/twilio/voice", {}, "sig")
    assert no_retry.inner.sent == 1


def test_busy_hour_stand_in_times_its_garbage_collector_and_freezes_what_it_holds() -> None:
    """The stand-in process reports each generation's passes and their longest pause, and
    with a freeze interval moves what it holds out of the collector's sight."""
    import gc
    import time

    from bench.standin_timed import GcWatch

    watch = GcWatch(freeze_every=0.05)
    try:
        gc.collect()
        held = [[i] for i in range(1000)]  # objects the process keeps, like placed calls
        deadline = time.monotonic() + 5
        while watch.freezes == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        summary = watch.summary()
        assert summary["passes"][2] >= 1 and summary["longest_ms"][2] > 0
        assert summary["freezes"] >= 1 and summary["frozen_objects"] >= len(held)
    finally:
        gc.callbacks.remove(watch._note)
        watch.stop()
        gc.unfreeze()


def test_dispatch_arrivals_time_stamp_call_creation_and_pass_the_body_on() -> None:
    """The dispatch timer sees each Calls.json POST by its To number; the app gets the body."""
    from werkzeug.test import Client

    from bench.dispatch import Arrivals

    received: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        received.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        start_response("201 CREATED", [("Content-Type", "application/json")])
        return [b"{}"]

    arrivals = Arrivals(app)
    Client(arrivals).post(
        "/2010-04-01/Accounts/AC1/Calls.json", data={"To": "+16282010001", "From": "+1800"}
    )
    assert arrivals.wait_for("+16282010001", timeout=1) is not None
    assert b"To=%2B16282010001" in received[0]
    assert arrivals.wait_for("+16282010002", timeout=0.01) is None


def test_rerender_rewrites_the_report_of_the_last_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--rerender`` rebuilds RESULTS.md from its last run's figures (RESULTS.json), measuring
    nothing; a quick run's figures are kept apart and never used for it."""
    import json

    run = {
        "machine": {"cores (nproc)": "2"},
        "command": ".venv/bin/python -m bench",
        "seconds": 480.0,
        "when": "2026-01-02 03:04 UTC",
        "results": [Result("a", "Alpha", [Figure("speed", 0.5, "x", ">= 0.7", False)]).to_dict()],
    }
    (tmp_path / "RESULTS.json").write_text(json.dumps(run))
    quick = {**run, "when": "2026-01-03 00:00 UTC", "command": "python -m bench --quick"}
    (tmp_path / "RESULTS-quick.json").write_text(json.dumps(quick))
    monkeypatch.setattr(bench_main, "OUT_DIR", tmp_path)
    out = tmp_path / "RESULTS.md"
    assert bench_main.main(["--rerender", "--output", str(out)]) == 1
    text = out.read_text()
    assert "on 2026-01-02 03:04 UTC in 8.0 minutes" in text
    assert "| Alpha | speed | 0.5 x | >= 0.7 | SHORT |" in text


def test_bare_baseline_is_served_with_hotline_webs_gunicorn_settings() -> None:
    """The webhook ratio compares our code only if both servers run the same gunicorn
    settings: every literal setting of ``hotline web`` is the bare app's too."""
    import ast
    import re

    from bench.bare_app import GUNICORN_CONFIG

    source = (Path(bench_main.ROOT) / "hotline" / "cli.py").read_text()
    web = source[source.index("class HotlineWeb") :]
    web = web[: web.index("def load(")]
    settings = {}
    for key, raw in re.findall(r'self\.cfg\.set\("(\w+)", ([^\n]+)\)\n', web):
        try:
            settings[key] = ast.literal_eval(raw)
        except ValueError:
            continue  # bind and workers come from settings; the bare app gets them as flags
    # Both write an access line per request: hotline web through its redacting
    # logconfig_dict (which turns gunicorn's access log on), the bare app to stdout.
    bare = dict(GUNICORN_CONFIG)
    assert bare.pop("accesslog") == "-"
    assert 'self.cfg.set("logconfig_dict", logging_config(' in web
    assert settings and settings == bare


def test_signature_checking_baseline_accepts_a_step_that_names_its_lead() -> None:
    """The bare app's /signed/ route checks the whole URL Twilio signed, query included (an
    IVR step's ?lead=), and refuses a signature made for another URL."""
    from bench.bare_app import create_bare_app
    from bench.common import AUTH_TOKEN, PUBLIC_BASE_URL, sign

    client = create_bare_app(AUTH_TOKEN, PUBLIC_BASE_URL).test_client()
    params = {"CallSid": "CA1", "Digits": "1"}
    path = "/signed/twilio/ivr/situation?lead=L000123"
    ok = client.post(path, data=params, headers={"X-Twilio-Signature": sign(path, params)})
    assert ok.status_code == 200 and b"<Gather" in ok.data
    other = sign("/signed/twilio/ivr/situation?lead=L000124", params)
    refused = client.post(path, data=params, headers={"X-Twilio-Signature": other})
    assert refused.status_code == 403
