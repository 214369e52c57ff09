"""The web app's accessors for the shared clients (built by ``workers.services``)."""

from __future__ import annotations

from flask import current_app
from redis import Redis

from settings import Settings
from workers.services import Services


def services() -> Services:
    """The current app's Services."""
    return current_app.extensions["hotline"]  # type: ignore[no-any-return]


def get_redis() -> Redis:
    """The current app's Redis client."""
    return services().redis


def get_settings() -> Settings:
    """The current app's Settings."""
    return services().settings
