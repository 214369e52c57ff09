"""The shared clients of a worker process, built once from the environment."""

from __future__ import annotations

import os

from hotline.services import Services, build_services
from settings import load_settings

_services: Services | None = None


def current_services() -> Services:
    """This process's Services (built on first use, reused by every job)."""
    global _services
    if _services is None:
        _services = build_services(load_settings(os.environ))
    return _services
