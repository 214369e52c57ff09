"""The application factory."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Request, jsonify
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from hotline.auth import SESSION_LIFETIME
from settings import Settings, load_settings
from workers.services import Services, build_services

#: Largest request body accepted (Twilio's webhooks are a few KB).
MAX_CONTENT_LENGTH = 64 * 1024


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    test_config: dict[str, Any] | None = None,
) -> Flask:
    """Build the Flask app: settings, shared clients, blueprints, error handlers."""
    if settings is None:
        settings = services.settings if services else load_settings(os.environ)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        # Flask sets this key itself (31 days), so it is set here, not by setdefault.
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    if test_config:
        app.config.update(test_config)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.extensions["hotline"] = services or build_services(settings)
    app.session_interface = NoSessionForWebhooks()

    import webhooks  # blueprints are imported inside the factory

    app.register_blueprint(webhooks.bp)
    _register_optional_blueprints(app)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        """JSON errors for /api, plain text elsewhere; never a stack trace."""
        from flask import request

        if request.path.startswith("/api/"):
            return jsonify(error=exc.name, message=exc.description), exc.code
        return exc

    @app.get("/healthz")
    def healthz() -> Any:
        """Liveness and Redis reachability, for load balancers and compose: always JSON,
        503 naming the error class when Redis is down or hung (within its socket timeout)."""
        from hotline.services import get_redis

        try:
            get_redis().ping()
        except Exception as exc:  # whatever failed, the answer is "unavailable", not a 500
            return jsonify(status="unavailable", redis=type(exc).__name__), 503
        return jsonify(status="ok", redis="ok")

    return app


class NoSessionForWebhooks(SecureCookieSessionInterface):
    """Signed-cookie sessions for people; none for Twilio's webhooks, which never carry
    one, so a call step skips building the cookie signer and saving the session."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        """A null session (read-only, never saved) under /twilio/, else the cookie's."""
        if request.path.startswith("/twilio/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def _register_optional_blueprints(app: Flask) -> None:
    """Blueprints of the API, console and dashboard (each module exposes ``bp``)."""
    from hotline import blueprints

    for bp in blueprints.all_blueprints():
        app.register_blueprint(bp)
    for init in blueprints.all_initialisers():
        init(app)
