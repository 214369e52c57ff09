"""Phone numbers: parsing and validation (phonenumbers), masking for display and logs,
the caller's time zone, and a digest for looking a number up without storing it in a key."""

from __future__ import annotations

import hashlib
import hmac
import re
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as pn_timezone

from routing.errors import InvalidNumber

DEFAULT_REGION = "US"
#: How a number is written in free text and URLs. A plus may be URL-encoded (%2B, or %252B
#: encoded twice); a separator is "-", ".", white space, a form-encoded space ("+"),
#: "%20" or "%2B"; parentheses may be %28/%29.
_PCT = r"%(?:25)?"
_PLUS = rf"(?:\+|{_PCT}2[Bb])"
_SEP = rf"(?:[-.\s+]|{_PCT}2[0Bb])"
_AREA = rf"(?:(?:\(|{_PCT}28)\d{{3}}(?:\)|{_PCT}29){_SEP}?|\d{{3}}{_SEP})"
#: A number: E.164 (its digits may be separated), a NANP number with separators (and maybe
#: its country code), or a bare run of 10-15 digits. Never part of a longer word, address
#: or decimal (times, IPs, SIDs, "1764500000.123"); a URL escape (%2F, %3D) or "_" before it
#: is a boundary, so a path segment or query value is found.
_DIGITS = re.compile(
    r"(?:(?<![^\W_])(?<!\.)|(?<=%[0-9A-Fa-f]{2}))"
    rf"(?:{_PLUS}\d(?:{_SEP}?\d){{9,14}}|(?:1{_SEP}?)?{_AREA}\d{{3}}{_SEP}\d{{4}}|\d{{10,15}})"
    r"(?![^\W_]|\.\d)"
)


def parse_number(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return the E.164 form of ``raw`` or raise InvalidNumber."""
    if not raw or not raw.strip():
        raise InvalidNumber("empty")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(str(exc)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber("not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


#: Number types a person answers: a landline or a mobile (NANP numbers are mostly "fixed
#: line or mobile"). Refused: premium rate (+1 900, billed to us), shared cost, toll-free
#: (a business's switchboard or menu, where someone other than the caller would hear who is
#: calling; the hotline's own 800 number is one), personal numbers (+1 500/533, forwarding
#: services), VoIP, pagers, voicemail and the like.
PERSONAL_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
)


def reaches_a_person(e164: str) -> bool:
    """Whether a valid number is of a type a person answers (see PERSONAL_TYPES)."""
    return phonenumbers.number_type(phonenumbers.parse(e164)) in PERSONAL_TYPES


def caller_id_number(raw: str | None) -> str | None:
    """The E.164 caller ID, or None when withheld, anonymous or invalid."""
    if not raw:
        return None
    try:
        return parse_number(raw)
    except InvalidNumber:
        return None


def last_four(e164: str) -> str:
    """The last four digits of a number (what the IVR reads back)."""
    return re.sub(r"\D", "", e164)[-4:]


def mask(e164: str | None) -> str:
    """A number safe to show or log: only its last two digits."""
    if not e164:
        return "(none)"
    digits = re.sub(r"\D", "", e164)
    return "***" + digits[-2:]


def national_digits(e164: str) -> str:
    """The national significant number (10 digits for NANP)."""
    return str(phonenumbers.parse(e164).national_number)


def time_zones(e164: str) -> list[ZoneInfo]:
    """Every time zone phonenumbers gives for the number (a US area code can span two)."""
    names = [z for z in pn_timezone.time_zones_for_number(phonenumbers.parse(e164)) if "/" in z]
    zones = []
    for name in names or ["America/New_York"]:
        try:
            zones.append(ZoneInfo(name))
        except Exception:  # skip a zone the local tz database lacks
            continue
    return zones or [ZoneInfo("America/New_York")]


def number_digest(e164: str, secret: str) -> str:
    """A keyed hash of a number, for Redis keys that must find a lead by number."""
    return hmac.new(secret.encode(), e164.encode(), hashlib.sha256).hexdigest()[:32]


def redact(text: str) -> str:
    """Replace anything that looks like a phone number in free text (log safety net)."""
    return _DIGITS.sub(lambda m: mask(m.group(0)), text)
