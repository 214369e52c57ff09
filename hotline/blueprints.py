"""The list of web blueprints and app initialisers, in one place."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask


def all_blueprints() -> list[Blueprint]:
    """Every blueprint beside the Twilio webhooks, registered by the app factory."""
    found: list[Blueprint] = []
    # Issue 3: the JSON API.
    from hotline import api

    found.append(api.bp)
    # Issue 5: sign-in, counselor console, supervisor dashboard, admin.
    from hotline import admin, auth, console, dashboard

    found += [auth.bp, console.bp, dashboard.bp, admin.bp]
    # Issue 4: the try-it page (a keypad that calls the hotline through the stand-in).
    from hotline import tryit

    found.append(tryit.bp)
    # Issue 11: /metrics for Prometheus.
    from hotline import metrics

    found.append(metrics.bp)
    # Issue 11: the pages in English or Spanish (the user's own choice of language).
    from hotline import i18n

    found.append(i18n.bp)
    return found


def all_initialisers() -> list[Callable[[Flask], None]]:
    """Functions that set up extensions (login, CSRF, rate limits) on the app."""
    found: list[Callable[[Flask], None]] = []
    # Issue 5: Flask-Login, CSRF on every form, the login rate limiter.
    from hotline import auth

    found.append(auth.init_auth)
    # Issue 11: the webhook latency histogram.
    from hotline import metrics

    found.append(metrics.init_metrics)
    # Issue 11: Flask-Babel, each page in its user's language.
    from hotline import i18n

    found.append(i18n.init_i18n)
    return found
