"""A local stand-in for Twilio: the Calls REST resource, a TwiML executor that calls our
webhooks with valid signatures, scripted phones, and compressible time."""

from __future__ import annotations

from twilio_standin.calls import Call
from twilio_standin.clock import Clock
from twilio_standin.faults import Faults
from twilio_standin.phones import HANG_UP, Script
from twilio_standin.server import StandIn

__all__ = ["HANG_UP", "Call", "Clock", "Faults", "Script", "StandIn"]
