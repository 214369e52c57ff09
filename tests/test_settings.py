"""Settings are read from the environment and a bad value names its variable."""

from __future__ import annotations

import pytest

from settings import SettingsError, load_settings

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
        ("PUBLIC_BASE_URL", "not a url"),
        ("HOTLINE_API_TOKEN", "short"),
        ("SECRET_KEY", "short"),
        ("CALLING_HOURS", "8am-9pm"),
        ("CALLING_HOURS", "25:00-21:00"),
        ("REPORT_TIME_ZONE", "Mars/Olympus_Mons"),
        ("REPORT_TIME_ZONE", "../../etc/passwd"),
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


def test_calling_hours_window() -> None:
    from datetime import time

    s = load_settings({**GOOD, "CALLING_HOURS": "22:00-06:00"})
    assert s.calling_hours.contains(time(23, 0)) and s.calling_hours.contains(time(5, 59))
    assert not s.calling_hours.contains(time(12, 0))
