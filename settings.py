"""All of Hotline's configuration, read from the environment and validated at start.

``load_settings(os.environ)`` returns a frozen :class:`Settings`; a bad value raises
:class:`SettingsError` naming the variable, so a misconfigured process never starts.

Each setting is defined once, as a field of :class:`Settings` made by :func:`setting`: its
environment variable, its default and the parser that validates it, documented where it is
defined. ``load_settings`` loops over those fields; only the checks that involve two settings
are written out after the loop. A variable that is set but empty counts as unset.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import time, tzinfo
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

T = TypeVar("T")

#: The Sentinel service name used when REDIS_SENTINELS is set without REDIS_SENTINEL_MASTER.
DEFAULT_SENTINEL_MASTER = "mymaster"


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


def setting(env: str, default: T, parse: Callable[[str], T], *, required: str = "") -> T:
    """A Settings field read from ``env`` by ``parse`` (which raises ValueError saying what is
    wrong), ``default`` when unset. ``required``: the value may only be left empty by
    ``load_settings(..., dev=True)``, which makes a random one; the text says what is needed."""
    return field(default=default, metadata={"env": env, "parse": parse, "required": required})


# --- Parsers: a raw, non-empty string in; a value out, or ValueError saying what is wrong ---


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be a positive number of seconds, got {raw!r}")
    return value


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        parsed = urlparse(raw)
        if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
            raise ValueError(f"{raw!r} is not a URL with scheme {'/'.join(schemes)}")
        return raw.rstrip("/")

    return parse


def _account_sid(raw: str) -> str:
    if not re.fullmatch(r"AC[0-9a-fA-F]{32}", raw):
        raise ValueError("expected AC followed by 32 hex digits")
    return raw


def _secret(minimum: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) < minimum:
            raise ValueError(f"must be at least {minimum} characters")
        return raw

    return parse


def _phone_number(raw: str) -> str:
    try:
        number = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        raise ValueError(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_HHMM = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def parse_calling_hours(value: str) -> CallingHours:
    """Parse "HH:MM-HH:MM" into CallingHours."""
    match = _HHMM.match(value.strip())
    if not match:
        raise ValueError("expected HH:MM-HH:MM, for example 08:00-21:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    until_midnight = (h2, m2) == (24, 0)  # "00:00-24:00": the whole day
    try:
        hours = CallingHours(time(h1, m1), time.max if until_midnight else time(h2, m2))
    except ValueError as exc:
        raise ValueError(f"not a time of day ({exc})") from None
    if hours.start == hours.end:
        raise ValueError("start and end are the same")
    return hours


def _time_zone(raw: str) -> tzinfo:
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America", a directory
        raise ValueError(f"{raw!r} is not a time zone (e.g. America/Chicago)") from None


def _calls_per_second(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if not 0 < value <= 1000:
        raise ValueError("must be above 0 and at most 1000")
    return value


def _delays(raw: str) -> tuple[int, ...]:
    try:
        delays = tuple(int(d) for d in raw.split(",") if d.strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a comma-separated list") from None
    if any(d < 0 for d in delays):
        raise ValueError("delays cannot be negative")
    return delays


def _host_ports(raw: str) -> tuple[tuple[str, int], ...]:
    """A comma-separated host:port list ("10.0.0.5:26379,sentinel-b:26379")."""
    found = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        host, colon, port = item.rpartition(":")
        if not (colon and host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{item!r} is not host:port")
        found.append((host.strip("[]"), int(port)))
    if not found:
        raise ValueError("no host:port given")
    return tuple(found)


def _service_name(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", raw):
        raise ValueError(f"{raw!r} is not a Sentinel service name (letters, digits, . _ -)")
    return raw


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"{level!r} is not a log level")
    return level


@dataclass(frozen=True)
class Settings:
    """Hotline's configuration: each field names its environment variable, default and parser."""

    #: Redis to use (redis://, rediss://, unix://). None: start an embedded redis-server
    #: persisted (AOF) under ``var_dir``.
    redis_url: str | None = setting("REDIS_URL", None, _url("redis", "rediss", "unix"))
    #: Redis Sentinels to ask for the primary, "host:port,host:port" (High availability in
    #: the README). Set: every client (web, workers, RQ and its scheduler) connects to the
    #: primary Sentinel names and follows a failover by itself; REDIS_URL must then be unset.
    redis_sentinels: tuple[tuple[str, int], ...] = setting("REDIS_SENTINELS", (), _host_ports)
    #: The name the Sentinels monitor the primary under; "mymaster" when REDIS_SENTINELS is
    #: set and this is not (read it as ``sentinel_master``).
    redis_sentinel_master: str = setting("REDIS_SENTINEL_MASTER", "", _service_name)
    #: Password of the Sentinels themselves (their ``requirepass``), if they have one.
    redis_sentinel_password: str = setting("REDIS_SENTINEL_PASSWORD", "", str)
    #: Password of the Redis primary and replicas (``requirepass``) when Sentinel finds them
    #: (with REDIS_URL, the password is part of the URL).
    redis_password: str = setting("REDIS_PASSWORD", "", str)
    #: Milliseconds the step that tells a caller their place in line waits (Redis WAIT) for
    #: the lead to reach a replica, with Sentinel only: a failover then cannot lose a lead a
    #: caller was told about. Timed out: logged, and the caller is answered all the same.
    redis_wait_ms: int = setting("REDIS_WAIT_MS", 500, _int_at_least(1))
    #: Where the embedded Redis keeps its data and socket, and ``hotline dev`` its secrets.
    var_dir: Path = setting("HOTLINE_VAR_DIR", Path("var"), Path)
    #: Seconds a Redis command waits for its reply before raising redis.TimeoutError: a hung
    #: Redis fails a webhook in time for it to still answer Twilio, which gives up after 15 s.
    #: RQ workers raise it for their blocking pops.
    redis_socket_timeout: float = setting("REDIS_SOCKET_TIMEOUT", 5.0, _seconds)
    #: Seconds to wait for a connection to Redis to open.
    redis_connect_timeout: float = setting("REDIS_CONNECT_TIMEOUT", 2.0, _seconds)
    #: Twilio account SID (AC + 32 hex). Random in dev, where the stand-in is used.
    twilio_account_sid: str = setting(
        "TWILIO_ACCOUNT_SID",
        "",
        _account_sid,
        required="use `hotline dev` for the stand-in",
    )
    #: Twilio auth token: signs webhooks and authenticates REST calls. Set with the SID.
    twilio_auth_token: str = setting(
        "TWILIO_AUTH_TOKEN", "", str, required="set with TWILIO_ACCOUNT_SID"
    )
    #: Base URL of Twilio's REST API; point it at the local stand-in for demos and tests.
    #: In dev without Twilio credentials it defaults to the stand-in (``twilio_standin_url``).
    twilio_api_base_url: str = setting(
        "TWILIO_API_BASE_URL", "https://api.twilio.com", _url("http", "https")
    )
    #: Port of the local Twilio stand-in that ``hotline dev`` starts when it has no Twilio
    #: credentials.
    standin_port: int = setting("STANDIN_PORT", 5050, _int_at_least(1))
    #: The hotline's own number, E.164: the number callers dial.
    hotline_number: str = setting("HOTLINE_NUMBER", "+18004927848", _phone_number)
    #: The caller ID callbacks show, E.164 (both the counselor's and the caller's leg; read
    #: it as ``callback_from``). Empty: HOTLINE_NUMBER, as before this setting. Privacy: a
    #: phone's screen or call log that names an addiction helpline (a well-known 800-QUIT
    #: number, or its name shown by caller-name lookup) tells whoever sees it what the call
    #: was about, which 42 CFR Part 2 forbids us to disclose; a plain local number does not.
    #: Whatever number is used must be a Twilio number of the account (or a verified caller
    #: ID), registered for caller name (CNAM) with a neutral name, and signed with SHAKEN/STIR
    #: attestation A (Twilio Trust Hub), or carriers label the callbacks "Spam Likely" and
    #: callers do not answer.
    callback_caller_id: str = setting("CALLBACK_CALLER_ID", "", _phone_number)
    #: The URL Twilio uses to reach us (scheme and host, no trailing slash). Webhook
    #: signatures are checked against it, so TLS-terminating proxies do not break them.
    #: ``hotline dev`` defaults it to http://127.0.0.1:PORT.
    public_base_url: str = setting(
        "PUBLIC_BASE_URL", "http://localhost:5000", _url("http", "https")
    )
    #: Bearer token for the JSON API.
    hotline_api_token: str = setting(
        "HOTLINE_API_TOKEN", "", _secret(16), required="at least 16 characters"
    )
    #: Bearer token Prometheus sends to read /metrics (16+ characters; its own, so a scraper
    #: cannot use the API). Unset: /metrics answers 404, so the floor's numbers are
    #: readable by nobody until an operator decides who may scrape them.
    metrics_token: str = setting("METRICS_TOKEN", "", _secret(16))
    #: Flask secret key (sessions, CSRF).
    secret_key: str = setting("SECRET_KEY", "", _secret(16), required="at least 16 characters")
    #: Local window (caller's time zone) for callbacks, "HH:MM-HH:MM" ("00:00-24:00": any time).
    calling_hours: CallingHours = setting(
        "CALLING_HOURS", CallingHours(time(8, 0), time(21, 0)), parse_calling_hours
    )
    #: The call center's time zone (IANA name): where the dashboard's days and hours begin,
    #: so "today" is the supervisors' today.
    report_time_zone: tzinfo = setting("REPORT_TIME_ZONE", ZoneInfo("America/New_York"), _time_zone)
    #: Outbound calls per second allowed by the Twilio account (above 0, at most 1000).
    calls_per_second: float = setting("CALLS_PER_SECOND", 1.0, _calls_per_second)
    #: Seconds a callback waits for an insurance specialist before any counselor may take it.
    widen_after_seconds: int = setting("WIDEN_AFTER_SECONDS", 120, _int_at_least(0))
    #: Seconds a reservation may go without news from Twilio before it is reclaimed.
    lease_seconds: int = setting("LEASE_SECONDS", 120, _int_at_least(5))
    #: Seconds of wrap-up after a bridged call before the counselor is available again.
    wrapup_seconds: int = setting("WRAPUP_SECONDS", 60, _int_at_least(0))
    #: Delays (seconds) before each retry of a caller who did not answer; its length is the
    #: number of retries ("300,900,3600").
    retry_delays: tuple[int, ...] = setting("RETRY_DELAYS", (300, 900, 3600), _delays)
    #: Missed offers in a row after which a counselor is put offline.
    max_missed_offers: int = setting("MAX_MISSED_OFFERS", 3, _int_at_least(1))
    #: Head start (seconds) in the queue for a caller in withdrawal or using now.
    urgent_head_start: int = setting("URGENT_HEAD_START", 1800, _int_at_least(0))
    #: Head start (seconds) for someone calling for themselves.
    self_head_start: int = setting("SELF_HEAD_START", 600, _int_at_least(0))
    #: Target time to callback (seconds) for the service level.
    service_level_seconds: int = setting("SERVICE_LEVEL_SECONDS", 900, _int_at_least(1))
    #: Seconds a counselor's phone rings before it counts as missed.
    counselor_ring_seconds: int = setting("COUNSELOR_RING_SECONDS", 20, _int_at_least(5))
    #: Seconds the caller's phone rings before it counts as no answer.
    caller_ring_seconds: int = setting("CALLER_RING_SECONDS", 30, _int_at_least(5))
    #: Interval (seconds) of the periodic sweep: leases, wrap-ups, matching.
    sweep_interval: int = setting("SWEEP_INTERVAL", 5, _int_at_least(1))
    #: Seconds after its start that a call still in the IVR is checked with Twilio's REST
    #: API, in case its status callback was lost.
    intake_check_seconds: int = setting("INTAKE_CHECK_SECONDS", 300, _int_at_least(10))
    #: Number of proxies in front of the web server whose X-Forwarded-* headers are trusted.
    trusted_proxies: int = setting("TRUSTED_PROXIES", 0, _int_at_least(0))
    #: Port of `hotline web` / `hotline dev`.
    port: int = setting("PORT", 5000, _int_at_least(1))
    #: Gunicorn worker processes of `hotline web`.
    web_concurrency: int = setting("WEB_CONCURRENCY", 2, _int_at_least(1))
    #: Log level name (DEBUG, INFO, WARNING, ERROR, CRITICAL).
    log_level: str = setting("LOG_LEVEL", "INFO", _log_level)
    #: Days a lead's details are kept after it was made: then its number, CallSid and free
    #: text (status reason, disposition note) are erased by the sweep and only what the
    #: reports count remains (42 CFR Part 2 / HIPAA minimum necessary). A caller still owed
    #: a callback keeps theirs until the lead is settled.
    retention_days: int = setting("RETENTION_DAYS", 90, _int_at_least(1))
    #: Days the audit log is kept (2190: six years, HIPAA's documentation rule); older
    #: entries are trimmed by the sweep.
    audit_retention_days: int = setting("AUDIT_RETENTION_DAYS", 2190, _int_at_least(1))

    @property
    def redis_is_embedded(self) -> bool:
        """Whether this process should use (and start if needed) the embedded Redis."""
        return self.redis_url is None and not self.redis_sentinels

    @property
    def sentinel_master(self) -> str:
        """The service name to ask the Sentinels for: REDIS_SENTINEL_MASTER, else
        "mymaster" (Sentinel's own example name) when Sentinels are set, else empty."""
        if not self.redis_sentinels:
            return ""
        return self.redis_sentinel_master or DEFAULT_SENTINEL_MASTER

    @property
    def callback_from(self) -> str:
        """The caller ID of callbacks: CALLBACK_CALLER_ID, else the hotline's number."""
        return self.callback_caller_id or self.hotline_number

    @property
    def twilio_standin_url(self) -> str:
        """Where ``hotline dev`` serves the local Twilio stand-in."""
        return f"http://127.0.0.1:{self.standin_port}"


def random_secrets() -> dict[str, str]:
    """Fresh random values for every required setting, by variable: the only place Hotline
    makes secrets (dev and tests; nothing insecure is ever a default)."""
    return {
        "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "HOTLINE_API_TOKEN": secrets.token_urlsafe(24),
        "SECRET_KEY": secrets.token_urlsafe(32),
    }


def load_settings(environ: Mapping[str, str], *, dev: bool = False) -> Settings:
    """Build Settings from an environment mapping; raise SettingsError naming a bad variable.

    ``dev=True`` (the ``hotline dev`` command and tests) fills missing secrets with random
    values for this process instead of refusing to start; without Twilio credentials the
    REST API then defaults to the local stand-in.
    """
    values: dict[str, Any] = {}
    given: set[str] = set()
    for f in fields(Settings):
        name = f.metadata["env"]
        raw = environ.get(name) or ""
        if not raw:
            values[f.name] = f.default
            continue
        try:
            values[f.name] = f.metadata["parse"](raw)
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
        given.add(name)

    if "REDIS_SENTINELS" in given and "REDIS_URL" in given:
        raise SettingsError("REDIS_SENTINELS: set REDIS_SENTINELS or REDIS_URL, not both")
    if "REDIS_PASSWORD" in given and "REDIS_SENTINELS" not in given:
        raise SettingsError("REDIS_PASSWORD: only with REDIS_SENTINELS (else put it in REDIS_URL)")
    for name in ("REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_PASSWORD", "REDIS_WAIT_MS"):
        if name in given and "REDIS_SENTINELS" not in given:
            raise SettingsError(f"{name}: only used with REDIS_SENTINELS, which is not set")
    # WAIT blocks its connection: it must end before the socket timeout gives up on it.
    wait_seconds = values["redis_wait_ms"] / 1000
    if values["redis_sentinels"] and wait_seconds >= values["redis_socket_timeout"]:
        raise SettingsError("REDIS_WAIT_MS: must be shorter than REDIS_SOCKET_TIMEOUT")
    if ("TWILIO_ACCOUNT_SID" in given) != ("TWILIO_AUTH_TOKEN" in given):
        raise SettingsError("TWILIO_AUTH_TOKEN: set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    made = random_secrets() if dev else {}
    for f in fields(Settings):
        name = f.metadata["env"]
        if f.metadata["required"] and name not in given:
            if not dev:
                raise SettingsError(f"{name}: required ({f.metadata['required']})")
            values[f.name] = made[name]
    settings = Settings(**values)
    if dev and "TWILIO_ACCOUNT_SID" not in given and "TWILIO_API_BASE_URL" not in given:
        # Random credentials are good for nothing but the stand-in.
        settings = replace(settings, twilio_api_base_url=settings.twilio_standin_url)
    return settings
