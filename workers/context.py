"""The shared clients of a worker process, built once.

``hotline worker`` builds them before RQ starts forking a work horse per job, so every job
inherits them (redis-py reconnects its pools in a forked child by itself) instead of
building settings, pools and a twilio client again for each job."""

from __future__ import annotations

import os

from settings import load_settings
from workers.services import Services, build_services

_services: Services | None = None


def current_services() -> Services:
    """This process's Services (built on first use, reused by every job)."""
    global _services
    if _services is None:
        _services = build_services(load_settings(os.environ))
    return _services


def use(services: Services) -> None:
    """Make ``services`` this process's (and its forked work horses')."""
    global _services
    _services = services
