"""Settings are read from the environment and a bad value names its variable."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
ENV_NAMES = [f.metadata.get("env") for f in dataclasses.fields(Settings)]

GOOD = {
    "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
    "TWILIO_AUTH_TOKEN": "x" * 32,
    "HOTLINE_API_TOKEN": "t" * 20,
    "SECRET_KEY": "s" * 20,
}


def test_defaults() -> None:
    s = load_settings(GOOD)
    assert s.redis_url is None and s.redis_is_embedded
    assert s.hotline_number == "+18004927848"
    assert s.twilio_api_base_url == "https://api.twilio.com"
    assert (s.calling_hours.start.hour, s.calling_hours.end.hour) == (8, 21)
    assert s.retry_delays == (300, 900, 3600)
    assert str(s.report_time_zone) == "America/New_York"
    assert (s.redis_socket_timeout, s.redis_connect_timeout) == (5.0, 2.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "ftp://nope"),
        ("TWILIO_ACCOUNT_SID", "XX123"),
        ("HOTLINE_NUMBER", "12"),
        ("CALLBACK_CALLER_ID", "12"),
        ("CALLBACK_CALLER_ID", "QUIT"),
        ("PUBLIC_BASE_URL", "not a url"),
        ("HOTLINE_API_TOKEN", "short"),
        ("SECRET_KEY", "short"),
        ("CALLING_HOURS", "8am-9pm"),
        ("CALLING_HOURS", "25:00-21:00"),
        ("REPORT_TIME_ZONE", "Mars/Olympus_Mons"),
        ("REPORT_TIME_ZONE", "../../etc/passwd"),
        ("REPORT_TIME_ZONE", "America"),
        ("CALLS_PER_SECOND", "fast"),
        ("CALLS_PER_SECOND", "0"),
        ("RETRY_DELAYS", "5,x"),
        ("LEASE_SECONDS", "-1"),
        ("LOG_LEVEL", "LOUD"),
        ("REDIS_SOCKET_TIMEOUT", "0"),
        ("REDIS_SOCKET_TIMEOUT", "-1"),
        ("REDIS_SOCKET_TIMEOUT", "5s"),
        ("REDIS_SOCKET_TIMEOUT", "nan"),
        ("REDIS_SOCKET_TIMEOUT", "inf"),
        ("REDIS_CONNECT_TIMEOUT", "0"),
        ("REDIS_CONNECT_TIMEOUT", "never"),
        ("INTAKE_CHECK_SECONDS", "9"),
        ("STANDIN_PORT", "0"),
        ("TWILIO_API_BASE_URL", "api.twilio.com"),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}:"):
        load_settings({**GOOD, name: value})


@pytest.mark.parametrize(
    ("socket", "connect", "expected"),
    [("", "", (5.0, 2.0)), ("2.5", "0.5", (2.5, 0.5)), ("10", "3", (10.0, 3.0))],
)
def test_redis_timeouts(socket: str, connect: str, expected: tuple[float, float]) -> None:
    env = {**GOOD, "REDIS_SOCKET_TIMEOUT": socket, "REDIS_CONNECT_TIMEOUT": connect}
    s = load_settings(env)
    assert (s.redis_socket_timeout, s.redis_connect_timeout) == expected


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "HOTLINE_API_TOKEN", "SECRET_KEY"])
def test_production_refuses_missing_secrets(missing: str) -> None:
    env = {k: v for k, v in GOOD.items() if k != missing}
    if missing == "TWILIO_ACCOUNT_SID":
        env.pop("TWILIO_AUTH_TOKEN")
    with pytest.raises(SettingsError, match=f"^{missing}:"):
        load_settings(env)


def test_dev_fills_random_secrets_never_fixed_ones() -> None:
    a, b = load_settings({}, dev=True), load_settings({}, dev=True)
    assert a.secret_key != b.secret_key and len(a.secret_key) >= 16
    assert a.hotline_api_token != b.hotline_api_token


def test_callbacks_show_the_hotline_number_unless_another_caller_id_is_set() -> None:
    assert load_settings(GOOD).callback_from == "+18004927848"
    moved = load_settings({**GOOD, "HOTLINE_NUMBER": "+18005550199"})
    assert moved.callback_from == "+18005550199"
    private = load_settings({**GOOD, "CALLBACK_CALLER_ID": "(212) 555-0100"})
    assert private.callback_from == "+12125550100"  # normalised to E.164
    assert private.hotline_number == "+18004927848"


def test_calling_hours_window() -> None:
    from datetime import time

    s = load_settings({**GOOD, "CALLING_HOURS": "22:00-06:00"})
    assert s.calling_hours.contains(time(23, 0)) and s.calling_hours.contains(time(5, 59))
    assert not s.calling_hours.contains(time(12, 0))
    whole_day = load_settings({**GOOD, "CALLING_HOURS": "00:00-24:00"}).calling_hours
    assert whole_day.contains(time(0, 0)) and whole_day.contains(time(23, 59, 59))


def test_every_field_names_its_variable_parser_and_default() -> None:
    for f in dataclasses.fields(Settings):
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", f.metadata.get("env", "")), f.name
        assert callable(f.metadata.get("parse")), f.name
        assert f.default is not dataclasses.MISSING, f.name
    assert len(set(ENV_NAMES)) == len(ENV_NAMES)


def test_an_empty_variable_counts_as_unset() -> None:
    s = load_settings({**GOOD, **{name: "" for name in ENV_NAMES if name not in GOOD}})
    assert s == load_settings(GOOD)


def readme_configuration_names() -> set[str]:
    """The variables in the first column of README's configuration table."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ")[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in rows for name in re.findall(r"`([A-Z0-9_]+)`", cell)}


def env_example_names() -> set[str]:
    """The variables .env.example sets or shows commented out."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {m[1] for line in lines if (m := re.match(r"#? ?([A-Z][A-Z0-9_]*)=", line))}


@pytest.mark.parametrize("documented", [readme_configuration_names, env_example_names])
def test_every_setting_is_documented(documented: Callable[[], set[str]]) -> None:
    names = documented()
    assert set(ENV_NAMES) <= names, f"missing: {sorted(set(ENV_NAMES) - names)}"
    assert names <= set(ENV_NAMES), f"not settings: {sorted(names - set(ENV_NAMES))}"


def test_dev_without_twilio_credentials_uses_the_standin() -> None:
    s = load_settings({"STANDIN_PORT": "5999"}, dev=True)
    assert s.twilio_api_base_url == s.twilio_standin_url == "http://127.0.0.1:5999"
    assert s.twilio_account_sid.startswith("AC") and s.twilio_auth_token
    assert load_settings(GOOD, dev=True).twilio_api_base_url == "https://api.twilio.com"
    chosen = {"TWILIO_API_BASE_URL": "http://127.0.0.1:7000"}
    assert load_settings(chosen, dev=True).twilio_api_base_url == "http://127.0.0.1:7000"


def test_dev_settings_prefer_the_environment_then_the_kept_secrets(tmp_path: Path) -> None:
    from hotline.dev import dev_secrets, dev_settings

    environ = {"HOTLINE_VAR_DIR": str(tmp_path), "PORT": "5123", "SECRET_KEY": "k" * 20}
    s = dev_settings(environ)
    kept = dev_secrets(tmp_path)
    assert s.hotline_api_token == kept["HOTLINE_API_TOKEN"]
    assert s.secret_key == "k" * 20
    assert s.public_base_url == "http://127.0.0.1:5123"
    assert dev_settings(environ).hotline_api_token == s.hotline_api_token
