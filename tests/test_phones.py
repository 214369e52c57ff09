"""Phone numbers: validation, masking, time zones, and the log safety net."""

from __future__ import annotations

import logging

import pytest

from hotline.logs import RedactingFormatter, RedactPhoneNumbers
from routing.phones import (
    InvalidNumber,
    caller_id_number,
    last_four,
    mask,
    number_digest,
    parse_number,
    redact,
    time_zones,
)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("2125550123", "+12125550123"),
        ("(415) 555-0134", "+14155550134"),
        ("+1 305 555 0188", "+13055550188"),
    ],
)
def test_parse_valid(raw: str, e164: str) -> None:
    assert parse_number(raw) == e164


@pytest.mark.parametrize("raw", ["", "123", "0000000000", "5555555555", "abc"])
def test_parse_invalid(raw: str) -> None:
    with pytest.raises(InvalidNumber):
        parse_number(raw)


@pytest.mark.parametrize("raw", [None, "", "anonymous", "+266696687", "restricted"])
def test_withheld_caller_id_is_none(raw: str | None) -> None:
    assert caller_id_number(raw) is None


def test_mask_and_last_four() -> None:
    assert mask("+12125550123") == "***23"
    assert mask(None) == "(none)"
    assert last_four("+12125550123") == "0123"


def test_time_zone_follows_area_code() -> None:
    assert time_zones("+14155550134")[0].key == "America/Los_Angeles"
    assert time_zones("+12125550123")[0].key == "America/New_York"


def test_digest_is_keyed_and_stable() -> None:
    a = number_digest("+12125550123", "k1")
    assert a == number_digest("+12125550123", "k1")
    assert a != number_digest("+12125550123", "k2")
    assert "2125550123" not in a


def test_redact_free_text() -> None:
    text = redact("dialing +12125550123 and (415) 555-0134 for lead L000001")
    assert "2125550123" not in text and "555-0134" not in text
    assert "L000001" in text


def test_log_filter_masks_numbers(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("hotline.test")
    caplog.handler.addFilter(RedactPhoneNumbers())
    with caplog.at_level(logging.INFO):
        logger.info("calling %s now", "+12125550123")
    assert "2125550123" not in caplog.text
    assert "***23" in caplog.text


def test_formatter_masks_numbers_in_tracebacks() -> None:
    try:
        raise ValueError("Unable to create record: The 'To' number +12125550123 is not valid")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "rq", logging.ERROR, __file__, 1, "job failed", None, sys.exc_info()
        )
    text = RedactingFormatter("%(asctime)s %(message)s").format(record)
    assert "Traceback" in text and "is not valid" in text
    assert "2125550123" not in text
    assert text[:4].isdigit()  # the time is not mistaken for a number


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-30 10:57:11 GET /x",
        "host 127.0.0.1 port 36171",
        "/2010-04-01/Accounts/AC00000000000000000000000000000001/Calls.json",
        "took 1764500000.123 seconds",
    ],
)
def test_redact_leaves_times_addresses_and_ids_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "number", ["+12125550123", "2125550123", "(212) 555-0123", "212-555-0123", "212.555.0123"]
)
def test_redact_masks_every_way_of_writing_a_number(number: str) -> None:
    assert "0123" not in redact(f"caller {number} waiting")
