"""All of Hotline's configuration, read from the environment and validated at start.

``load_settings(os.environ)`` returns a frozen :class:`Settings`; a bad value raises
:class:`SettingsError` naming the variable, so a misconfigured process never starts.
Every setting is documented where it is defined.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time, tzinfo
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class CallingHours:
    """The local window in which a caller may be called back (start inclusive, end exclusive)."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        """Whether a local wall-clock time falls inside the window."""
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # a window that wraps midnight


@dataclass(frozen=True)
class Settings:
    """Hotline's configuration. Field names match the environment variables, lower-cased."""

    #: Redis to use. None: start an embedded redis-server persisted (AOF) under ``var_dir``.
    redis_url: str | None = None
    #: Where the embedded Redis keeps its data and socket (HOTLINE_VAR_DIR).
    var_dir: Path = Path("var")
    #: Seconds a Redis command waits for its reply before raising redis.TimeoutError
    #: (REDIS_SOCKET_TIMEOUT): a hung Redis fails a webhook in time for it to still answer
    #: Twilio, which gives up after 15 s. RQ workers raise it for their blocking pops.
    redis_socket_timeout: float = 5.0
    #: Seconds to wait for a connection to Redis to open (REDIS_CONNECT_TIMEOUT).
    redis_connect_timeout: float = 2.0
    #: Twilio account SID (AC + 32 hex). Empty only in dev, where the stand-in is used.
    twilio_account_sid: str = ""
    #: Twilio auth token: signs webhooks and authenticates REST calls.
    twilio_auth_token: str = ""
    #: Base URL of Twilio's REST API; point it at the local stand-in for demos and tests.
    twilio_api_base_url: str = "https://api.twilio.com"
    #: The hotline's own number, E.164: caller ID of every callback.
    hotline_number: str = "+18004927848"
    #: The URL Twilio uses to reach us (scheme and host, no trailing slash). Webhook
    #: signatures are checked against it, so TLS-terminating proxies do not break them.
    public_base_url: str = "http://localhost:5000"
    #: Bearer token for the JSON API.
    hotline_api_token: str = ""
    #: Flask secret key (sessions, CSRF).
    secret_key: str = ""
    #: Local window (caller's time zone) for callbacks, "HH:MM-HH:MM".
    calling_hours: CallingHours = field(
        default_factory=lambda: CallingHours(time(8, 0), time(21, 0))
    )
    #: The call center's time zone (IANA name, REPORT_TIME_ZONE): where the dashboard's
    #: days and hours begin, so "today" is the supervisors' today.
    report_time_zone: tzinfo = field(default_factory=lambda: ZoneInfo("America/New_York"))
    #: Outbound calls per second allowed by the Twilio account (CALLS_PER_SECOND).
    calls_per_second: float = 1.0
    #: Seconds a callback waits for an insurance specialist before any counselor may take it.
    widen_after_seconds: int = 120
    #: Seconds a reservation may go without news from Twilio before it is reclaimed.
    lease_seconds: int = 120
    #: Seconds of wrap-up after a bridged call before the counselor is available again.
    wrapup_seconds: int = 60
    #: Delays (seconds) before each retry of a caller who did not answer; its length is the
    #: number of retries (RETRY_DELAYS="300,900,3600").
    retry_delays: tuple[int, ...] = (300, 900, 3600)
    #: Missed offers in a row after which a counselor is put offline.
    max_missed_offers: int = 3
    #: Head start (seconds) in the queue for a caller in withdrawal or using now.
    urgent_head_start: int = 1800
    #: Head start (seconds) for someone calling for themselves.
    self_head_start: int = 600
    #: Target time to callback for the service level (SERVICE_LEVEL_SECONDS).
    service_level_seconds: int = 900
    #: Seconds a counselor's phone rings before it counts as missed.
    counselor_ring_seconds: int = 20
    #: Seconds the caller's phone rings before it counts as no answer.
    caller_ring_seconds: int = 30
    #: Interval (seconds) of the periodic sweep: leases, wrap-ups, matching.
    sweep_interval: int = 5
    #: Seconds after its start that a call still in the IVR is checked with Twilio's REST
    #: API, in case its status callback was lost (INTAKE_CHECK_SECONDS).
    intake_check_seconds: int = 300
    #: Number of proxies in front of the web server whose X-Forwarded-* headers are trusted.
    trusted_proxies: int = 0
    #: Port of `hotline web` / `hotline dev`.
    port: int = 5000
    #: Gunicorn worker processes of `hotline web` (WEB_CONCURRENCY).
    web_concurrency: int = 2
    #: Log level name.
    log_level: str = "INFO"

    @property
    def redis_is_embedded(self) -> bool:
        """Whether this process should use (and start if needed) the embedded Redis."""
        return self.redis_url is None

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields changed (tests, the dev command)."""
        return replace(self, **changes)  # type: ignore[arg-type]


_HHMM = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def parse_calling_hours(value: str) -> CallingHours:
    """Parse "HH:MM-HH:MM" into CallingHours."""
    match = _HHMM.match(value.strip())
    if not match:
        raise ValueError("expected HH:MM-HH:MM, for example 08:00-21:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        hours = CallingHours(time(h1, m1), time(h2, m2))
    except ValueError as exc:
        raise ValueError(f"not a time of day ({exc})") from None
    if hours.start == hours.end:
        raise ValueError("start and end are the same")
    return hours


def _url(value: str, name: str, schemes: tuple[str, ...]) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        raise SettingsError(f"{name}: {value!r} is not a URL with scheme {'/'.join(schemes)}")
    return value.rstrip("/")


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}, got {value}")
    return value


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise SettingsError(f"{name}: must be a positive number of seconds, got {raw!r}")
    return value


def load_settings(environ: Mapping[str, str], *, dev: bool = False) -> Settings:
    """Build Settings from an environment mapping; raise SettingsError naming a bad variable.

    ``dev=True`` (the ``hotline dev`` command and tests) fills missing secrets with random
    values for this process instead of refusing to start; nothing insecure is ever a default.
    """
    env = {k: v for k, v in environ.items() if v is not None}
    redis_url = env.get("REDIS_URL") or None
    if redis_url is not None:
        redis_url = _url(redis_url, "REDIS_URL", ("redis", "rediss", "unix"))

    sid = env.get("TWILIO_ACCOUNT_SID", "")
    if sid and not re.fullmatch(r"AC[0-9a-fA-F]{32}", sid):
        raise SettingsError("TWILIO_ACCOUNT_SID: expected AC followed by 32 hex digits")
    token = env.get("TWILIO_AUTH_TOKEN", "")
    if bool(sid) != bool(token):
        raise SettingsError("TWILIO_AUTH_TOKEN: set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    if not sid:
        if not dev:
            raise SettingsError("TWILIO_ACCOUNT_SID: required (use `hotline dev` for the stand-in)")
        sid = "AC" + secrets.token_hex(16)
        token = secrets.token_hex(16)

    number_raw = env.get("HOTLINE_NUMBER", "+18004927848")
    try:
        number = phonenumbers.parse(number_raw, "US")
    except phonenumbers.NumberParseException:
        raise SettingsError(f"HOTLINE_NUMBER: {number_raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise SettingsError(f"HOTLINE_NUMBER: {number_raw!r} is not a valid phone number")

    secrets_needed = {}
    for name, minimum in (("HOTLINE_API_TOKEN", 16), ("SECRET_KEY", 16)):
        value = env.get(name, "")
        if not value:
            if not dev:
                raise SettingsError(f"{name}: required (at least {minimum} characters)")
            value = secrets.token_urlsafe(24)
        elif len(value) < minimum:
            raise SettingsError(f"{name}: must be at least {minimum} characters")
        secrets_needed[name] = value

    try:
        hours = parse_calling_hours(env.get("CALLING_HOURS", "08:00-21:00"))
    except ValueError as exc:
        raise SettingsError(f"CALLING_HOURS: {exc}") from None

    zone_name = env.get("REPORT_TIME_ZONE", "America/New_York")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"REPORT_TIME_ZONE: {zone_name!r} is not a time zone (e.g. America/Chicago)"
        ) from None

    cps_raw = env.get("CALLS_PER_SECOND", "1")
    try:
        cps = float(cps_raw)
    except ValueError:
        raise SettingsError(f"CALLS_PER_SECOND: {cps_raw!r} is not a number") from None
    if not 0 < cps <= 1000:
        raise SettingsError("CALLS_PER_SECOND: must be above 0 and at most 1000")

    delays_raw = env.get("RETRY_DELAYS", "300,900,3600")
    try:
        delays = tuple(int(d) for d in delays_raw.split(",") if d.strip())
    except ValueError:
        raise SettingsError(f"RETRY_DELAYS: {delays_raw!r} is not a comma-separated list") from None
    if any(d < 0 for d in delays):
        raise SettingsError("RETRY_DELAYS: delays cannot be negative")

    level = env.get("LOG_LEVEL", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise SettingsError(f"LOG_LEVEL: {level!r} is not a log level")

    return Settings(
        redis_url=redis_url,
        var_dir=Path(env.get("HOTLINE_VAR_DIR", "var")),
        redis_socket_timeout=_seconds(env, "REDIS_SOCKET_TIMEOUT", 5.0),
        redis_connect_timeout=_seconds(env, "REDIS_CONNECT_TIMEOUT", 2.0),
        twilio_account_sid=sid,
        twilio_auth_token=token,
        twilio_api_base_url=_url(
            env.get("TWILIO_API_BASE_URL", "https://api.twilio.com"),
            "TWILIO_API_BASE_URL",
            ("http", "https"),
        ),
        hotline_number=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        public_base_url=_url(
            env.get("PUBLIC_BASE_URL", "http://localhost:5000"),
            "PUBLIC_BASE_URL",
            ("http", "https"),
        ),
        hotline_api_token=secrets_needed["HOTLINE_API_TOKEN"],
        secret_key=secrets_needed["SECRET_KEY"],
        calling_hours=hours,
        report_time_zone=zone,
        calls_per_second=cps,
        widen_after_seconds=_int(env, "WIDEN_AFTER_SECONDS", 120),
        lease_seconds=_int(env, "LEASE_SECONDS", 120, minimum=5),
        wrapup_seconds=_int(env, "WRAPUP_SECONDS", 60),
        retry_delays=delays,
        max_missed_offers=_int(env, "MAX_MISSED_OFFERS", 3, minimum=1),
        urgent_head_start=_int(env, "URGENT_HEAD_START", 1800),
        self_head_start=_int(env, "SELF_HEAD_START", 600),
        service_level_seconds=_int(env, "SERVICE_LEVEL_SECONDS", 900, minimum=1),
        counselor_ring_seconds=_int(env, "COUNSELOR_RING_SECONDS", 20, minimum=5),
        caller_ring_seconds=_int(env, "CALLER_RING_SECONDS", 30, minimum=5),
        sweep_interval=_int(env, "SWEEP_INTERVAL", 5, minimum=1),
        intake_check_seconds=_int(env, "INTAKE_CHECK_SECONDS", 300, minimum=10),
        trusted_proxies=_int(env, "TRUSTED_PROXIES", 0),
        port=_int(env, "PORT", 5000, minimum=1),
        web_concurrency=_int(env, "WEB_CONCURRENCY", 2, minimum=1),
        log_level=level,
    )
