"""``hotline simulate`` against a served Hotline and the stand-in (over HTTP only)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from hotline.cli import main
from tests.conftest import API_TOKEN
from tests.served import Line

pytestmark = pytest.mark.e2e


def number(output: str, label: str) -> int:
    """An integer from a summary line."""
    match = re.search(rf"^{label}:\s+(\d+)", output, re.MULTILINE)
    assert match, f"no {label!r} in:\n{output}"
    return int(match.group(1))


def test_simulate_prints_a_consistent_summary(start_line: Callable[..., Line]):
    line = start_line(worker_count=2, speed=200.0, WRAPUP_SECONDS="1", RETRY_DELAYS="1,1")
    result = CliRunner().invoke(
        main,
        [
            "simulate",
            "--callers",
            "24",
            "--counselors",
            "3",
            "--url",
            line.base,
            "--standin",
            line.standin.url,
            "--api-token",
            API_TOKEN,
            "--seed",
            "7",
            "--arrival-seconds",
            "3",
            "--timeout",
            "60",
        ],
    )
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert number(output, "callers") == 24
    assert number(output, "leads created") == 24, "every call left a lead"
    connected = number(output, "callbacks connected")
    unreachable = number(output, "unreachable")
    pending = number(output, "still pending")
    assert connected + unreachable + pending <= 24
    assert connected >= 12, output
    assert re.search(r"time to callback:\s+median \d+\.\ds, p90 \d+\.\ds", output), output
    anomalies = number(output, "anomalies")
    # The exit status says whether anything went wrong, and the anomalies say what.
    assert result.exit_code == (1 if anomalies else 0), output
    assert len(re.findall(r"^  - ", output, re.MULTILINE)) == anomalies


def test_simulate_refuses_without_a_reachable_standin(start_line: Callable[..., Line]):
    line = start_line(worker_count=1)
    result = CliRunner().invoke(
        main,
        [
            "simulate",
            "--callers",
            "1",
            "--url",
            line.base,
            "--standin",
            "http://127.0.0.1:9",
            "--api-token",
            API_TOKEN,
        ],
    )
    assert result.exit_code == 1
    assert "Error" in result.output


def test_simulate_exits_non_zero_when_leads_are_lost(start_line: Callable[..., Line]):
    line = start_line(worker_count=1, speed=200.0)
    # A stand-in signing with the wrong token: Hotline refuses every webhook (403), so no
    # call becomes a lead. The simulation must say so and fail.
    line.standin.auth_token = "not-the-hotline-token"
    result = CliRunner().invoke(
        main,
        [
            "simulate",
            "--callers",
            "3",
            "--counselors",
            "1",
            "--url",
            line.base,
            "--standin",
            line.standin.url,
            "--api-token",
            API_TOKEN,
            "--arrival-seconds",
            "0",
            "--timeout",
            "3",
        ],
    )
    output = result.output
    assert result.exit_code == 1, output
    assert number(output, "leads created") == 0
    assert output.count("lead lost") == 3
    assert "webhook failed: twiml" in output and "-> 403" in output


def test_two_runs_in_a_row_do_not_interfere(start_line: Callable[..., Line]):
    line = start_line(worker_count=2, speed=200.0, WRAPUP_SECONDS="1", RETRY_DELAYS="1,1")
    args = [
        "simulate",
        "--callers",
        "10",
        "--counselors",
        "2",
        "--url",
        line.base,
        "--standin",
        line.standin.url,
        "--api-token",
        API_TOKEN,
        "--arrival-seconds",
        "2",
        "--timeout",
        "60",
    ]
    for run in (1, 2):
        result = CliRunner().invoke(main, args)
        output = result.output
        assert number(output, "leads created") == 10, f"run {run}:\n{output}"
        assert number(output, "anomalies") == 0, f"run {run}:\n{output}"
        assert result.exit_code == 0, f"run {run}:\n{output}"
    # The same two counselors served both runs; no third was added.
    assert len(line.api("GET", "/api/counselors").json()["counselors"]) == 2
