"""GET /metrics: who may read it, and that what it says is what happened (the floor read
from Redis, counters written by the jobs, the webhooks' own timings), parsed as Prometheus
would parse it."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from hotline.app import create_app
from routing import counselors as cs
from routing import keys
from routing.leads import Lead
from routing.queue import add_waiting
from settings import Settings
from tests.conftest import Twilio
from tests.records import save_lead
from tests.test_callbacks import CALLER, Call, new_counselor, new_lead
from workers import jobs
from workers.services import Services, build_services

TOKEN = "metrics-token-0123456789"


@pytest.fixture(autouse=True)
def metrics_token(env: dict[str, str]) -> None:
    """Every app here is built with METRICS_TOKEN set (tests that want it unset say so)."""
    env["METRICS_TOKEN"] = TOKEN


def scrape(client: FlaskClient) -> str:
    """The exposition, as a scraper holding the token gets it."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


def value(text: str, name: str, **labels: str) -> float:
    """The one sample called ``name`` whose labels include ``labels``."""
    found = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]


def label_values(text: str) -> set[str]:
    """Every label value in the exposition."""
    return {
        v
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for v in sample.labels.values()
    }


# --- Who may read it ---------------------------------------------------------------------


def test_without_a_token_configured_there_is_no_metrics_page(
    settings: Settings, r: redis.Redis
) -> None:
    unset = build_services(replace(settings, metrics_token=""))
    app = create_app(services=unset, test_config={"TESTING": True})
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", headers=headers).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", "Bearer ", TOKEN],
)
def test_the_bearer_token_is_required(client: FlaskClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "hotline_" not in response.get_data(as_text=True)


def test_the_api_token_does_not_open_metrics(client: FlaskClient, settings: Settings) -> None:
    headers = {"Authorization": f"Bearer {settings.hotline_api_token}"}
    assert client.get("/metrics", headers=headers).status_code == 401


def test_metrics_token_is_validated(env: dict[str, str]) -> None:
    from settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        load_settings({**env, "METRICS_TOKEN": "short"})


# --- The floor, read from Redis when scraped ---------------------------------------------


def waiting_lead(
    r: redis.Redis,
    settings: Settings,
    n: int,
    language: str,
    situation: str,
    urgent: bool,
    age: float,
) -> Lead:
    now = time.time()
    lead = Lead(
        id=f"L{n:06d}",
        call_sid=f"CA{n:032d}",
        phone=f"+1212555{n:04d}",
        language=language,
        situation=situation,
        urgent=urgent,
        first_call_at=now - age,
        created_at=now - age,
    )
    save_lead(r, lead)
    add_waiting(r, settings, lead)
    return lead


def test_floor_gauges_say_what_is_waiting_and_who_is_working(
    client: FlaskClient, r: redis.Redis, settings: Settings
) -> None:
    waiting_lead(r, settings, 1, "en", "self", True, age=30)  # urgent
    waiting_lead(r, settings, 2, "en", "self", True, age=20)  # urgent
    waiting_lead(r, settings, 3, "es", "self", False, age=300)  # high: calling for oneself
    waiting_lead(r, settings, 4, "en", "family", False, age=10)  # normal
    ana = cs.create_counselor(r, "Ana", "+13125550101", ["en"])
    ben = cs.create_counselor(r, "Ben", "+13125550102", ["en", "es"])
    cs.create_counselor(r, "Cy", "+13125550103", ["es"])  # offline since created
    dee = cs.create_counselor(r, "Dee", "+13125550104", ["en"])
    assert cs.make_available(r, ana) and cs.make_available(r, ben)
    assert cs.make_available(r, dee) and cs.make_offline(r, dee, reason="Break")

    text = scrape(client)

    assert value(text, "hotline_redis_up") == 1
    assert value(text, "hotline_callbacks_waiting", priority="urgent", language="en") == 2
    assert value(text, "hotline_callbacks_waiting", priority="high", language="es") == 1
    assert value(text, "hotline_callbacks_waiting", priority="normal", language="en") == 1
    # Every pair is there, zeros too, so a series never vanishes when its line empties.
    assert value(text, "hotline_callbacks_waiting", priority="urgent", language="es") == 0
    assert value(text, "hotline_longest_wait_seconds") == pytest.approx(300, abs=5)
    assert value(text, "hotline_counselors", state="available") == 2
    assert value(text, "hotline_counselors", state="offline") == 1
    assert value(text, "hotline_counselors", state="break") == 1
    assert value(text, "hotline_counselors", state="on_call") == 0
    assert value(text, "hotline_callbacks_in_progress") == 0
    assert value(text, "hotline_callbacks_scheduled") == 0
    assert value(text, "hotline_dialing_paused") == 0
    # No number, no lead or counselor id in any label.
    labels = " ".join(label_values(text))
    assert "555" not in labels and "L00000" not in labels and "C0" not in labels


def test_an_empty_floor_reads_zero(client: FlaskClient, r: redis.Redis) -> None:
    text = scrape(client)
    assert value(text, "hotline_longest_wait_seconds") == 0
    assert value(text, "hotline_callbacks_placed_total") == 0
    assert value(text, "hotline_sweep_runs_total") == 0


def test_a_scrape_without_redis_says_so_instead_of_failing(settings: Settings) -> None:
    nowhere = build_services(settings, redis_url="redis://127.0.0.1:9/0")
    app = create_app(settings, nowhere, {"TESTING": True})
    text = scrape(app.test_client())
    assert value(text, "hotline_redis_up") == 0
    assert "hotline_callbacks_waiting" not in text


# --- Counters the workers write ------------------------------------------------------------


@pytest.fixture
def floor(
    standin: Any, r: redis.Redis, settings: Settings, services: Services, twilio: Twilio
) -> Any:
    """Offers made through the stand-in (calls recorded, voice played by the test)."""

    def offer(lead_id: str) -> Call:
        new_lead(r, settings, lead_id)
        [rid] = jobs.request_match(services)
        assert jobs.place_counselor_call(services, rid) == "dialed"
        return Call(twilio, r, rid)

    new_counselor(r)
    return offer


def test_callbacks_placed_connected_and_failed_are_counted_once(
    floor: Any, client: FlaskClient, r: redis.Redis, services: Services
) -> None:
    missed = floor("L000001")
    missed.counselor_status("ringing")
    missed.counselor_status("no-answer")
    missed.counselor_status("no-answer", seq=9)  # Twilio repeats itself: still one
    text = scrape(client)
    assert value(text, "hotline_callbacks_placed_total") == 1
    assert value(text, "hotline_callbacks_failed_total", outcome="missed") == 1
    assert value(text, "hotline_callbacks_connected_total") == 0

    # The counselor is free again (a miss), so the same lead is offered anew: bridged.
    [rid] = r.zrange(keys.LEASES, 0, -1)
    assert jobs.place_counselor_call(services, rid) == "dialed"
    call = Call(missed.twilio, r, rid)
    call.counselor_answers()
    call.counselor_presses("1")
    call.caller_answers("human")
    call.dial_ends("completed", DialCallDuration="300", DialBridged="true")
    call.dial_ends("completed", DialCallDuration="300", DialBridged="true")

    text = scrape(client)
    assert value(text, "hotline_callbacks_placed_total") == 2
    assert value(text, "hotline_callbacks_connected_total") == 1
    assert value(text, "hotline_callbacks_failed_total", outcome="missed") == 1
    assert value(text, "hotline_callbacks_failed_total", outcome="caller_unreached") == 0
    assert CALLER[-7:] not in text


def test_twilio_rest_errors_are_counted_by_code(
    standin: Any, r: redis.Redis, settings: Settings, services: Services, client: FlaskClient
) -> None:
    new_lead(r, settings, "L000001")
    new_counselor(r)
    [rid] = jobs.request_match(services)
    standin.fail_next(429, 20429, "Too Many Requests")
    with pytest.raises(Exception, match="Too Many Requests"):
        jobs.place_counselor_call(services, rid)
    standin.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    assert jobs.place_counselor_call(services, rid) == "counselor-unreachable"
    text = scrape(client)
    assert value(text, "hotline_twilio_rest_errors_total", code="20429") == 1
    assert value(text, "hotline_twilio_rest_errors_total", code="21211") == 1
    assert value(text, "hotline_callbacks_placed_total") == 0
    assert value(text, "hotline_callbacks_failed_total", outcome="counselor_unreachable") == 1


def test_a_twilio_nobody_answers_is_counted_as_connection(
    r: redis.Redis, settings: Settings, services: Services, client: FlaskClient
) -> None:
    # The test environment's TWILIO_API_BASE_URL is a port nothing listens on.
    new_lead(r, settings, "L000001")
    new_counselor(r)
    [rid] = jobs.request_match(services)
    with pytest.raises(Exception, match="(?i)connect"):
        jobs.place_counselor_call(services, rid)
    assert value(scrape(client), "hotline_twilio_rest_errors_total", code="connection") == 1


def test_sweep_runs_and_repairs_are_counted(
    r: redis.Redis, settings: Settings, services: Services, client: FlaskClient
) -> None:
    new_lead(r, settings, "L000001")
    new_counselor(r)
    [rid] = jobs.request_match(services)  # reserved, never dialed: the lease will run out
    jobs.sweep_now(services)
    assert value(scrape(client), "hotline_sweep_runs_total") == 1
    done = jobs.sweep_now(services, now=time.time() + settings.lease_seconds + 1)
    assert done["reclaimed"] == 1
    text = scrape(client)
    assert value(text, "hotline_sweep_runs_total") == 2
    assert value(text, "hotline_sweep_repairs_total", kind="reclaimed") == 1
    assert value(text, "hotline_sweep_repairs_total", kind="wrapups_ended") == 0
    assert value(text, "hotline_callbacks_failed_total", outcome="released") == 1
    assert rid not in " ".join(label_values(text))


# --- The webhooks' own timings (no Redis) ------------------------------------------------


def test_webhook_latency_is_observed_by_route(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    # The fallback reads no Redis; the callback route has a reservation id in its URL.
    fallback = "/twilio/fallback"
    callback = "/twilio/callback/<reservation_id>/counselor-status"

    def count(text: str, route: str) -> float:
        found = [
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "hotline_webhook_duration_seconds_count" and s.labels["route"] == route
        ]
        return found[0] if found else 0.0

    before = scrape(client)
    form = {"CallSid": "CA" + "7" * 32, "From": CALLER, "CallStatus": "ringing"}
    assert twilio.post(fallback, form).status_code == 200
    assert twilio.post(fallback, form).status_code == 200
    twilio.post("/twilio/callback/R999999/counselor-status", {"CallStatus": "ringing"})
    client.get("/healthz")  # not a webhook: not timed
    after = scrape(client)

    assert count(after, fallback) == count(before, fallback) + 2
    assert count(after, callback) == count(before, callback) + 1
    routes = {
        s.labels["route"]
        for f in text_string_to_metric_families(after)
        for s in f.samples
        if s.name.startswith("hotline_webhook_duration_seconds")
    }
    assert all(r.startswith("/twilio/") or r == "unmatched" for r in routes)
    assert not any("R999999" in r for r in routes)  # the rule, never the URL
    buckets = [
        s
        for f in text_string_to_metric_families(after)
        for s in f.samples
        if s.name == "hotline_webhook_duration_seconds_bucket" and s.labels["route"] == fallback
    ]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == count(after, fallback)


def test_prometheus_asking_for_openmetrics_gets_it(client: FlaskClient) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = client.get(
        "/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Accept": accept}
    )
    assert response.status_code == 200
    assert response.content_type.startswith("application/openmetrics-text")
    text = response.get_data(as_text=True)
    assert text.endswith("# EOF\n")
    assert "hotline_callbacks_placed_total 0.0" in text
