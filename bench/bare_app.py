"""The baseline of the webhook measurement: a bare Flask endpoint answering a fixed <Gather>,
served by gunicorn with exactly the configuration of ``hotline web``.

``python -m bench.bare_app --bind 127.0.0.1:8001``
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

#: Kept equal to hotline.cli.web's gunicorn settings, so the ratio measures our code only.
#: (WEB_CONCURRENCY workers is passed in, like `hotline web` reads it; both write an access
#: line per request, hotline web through its redacting logconfig_dict, this one to stdout.)
GUNICORN_CONFIG: dict[str, Any] = {
    "worker_class": "gthread",
    "threads": 8,
    "timeout": 30,
    "keepalive": 10,
    "control_socket_disable": True,  # gunicorn 24+ (skipped by older ones, as in hotline web)
    "accesslog": "-",
}


def _gather() -> str:
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf", num_digits=1, timeout=5, action="/twilio/ivr/situation", method="POST"
    )
    gather.say(
        "If you are calling for yourself, press 1. For someone else, press 2.",
        voice="Polly.Joanna",
        language="en-US",
    )
    response.redirect("/twilio/ivr/situation", method="POST")
    return str(response)


def create_bare_app(auth_token: str | None = None, public_base_url: str | None = None) -> Flask:
    """A Flask app whose every POST answers the same Gather; under /signed/ only after
    checking X-Twilio-Signature (the second baseline: what the check alone costs)."""
    app = Flask(__name__)
    body = _gather()
    validator = RequestValidator(auth_token or os.environ.get("TWILIO_AUTH_TOKEN", ""))
    public = public_base_url or os.environ.get("PUBLIC_BASE_URL", "")

    @app.post("/signed/<path:path>")
    def signed_gather(path: str) -> Response:
        """The fixed TwiML, for a request signed for PUBLIC_BASE_URL + its path."""
        signature = request.headers.get("X-Twilio-Signature", "")
        # The whole URL Twilio requested, query included (an IVR step names its lead there).
        query = request.query_string.decode("latin-1")
        url = public + request.path + (f"?{query}" if query else "")
        if not validator.validate(url, request.form, signature):
            return Response("Forbidden\n", 403, mimetype="text/plain")
        return Response(body, mimetype="text/xml")

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def gather(path: str) -> Response:
        """The fixed TwiML."""
        return Response(body, mimetype="text/xml")

    @app.get("/healthz")
    def healthz() -> Response:
        """For the start-up wait."""
        return Response("ok", mimetype="text/plain")

    return app


def main() -> None:
    """Serve the bare app with gunicorn."""
    from gunicorn.app.base import BaseApplication

    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    class BareWeb(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", args.bind)
            self.cfg.set("workers", args.workers)
            for key, value in GUNICORN_CONFIG.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return create_bare_app()

    BareWeb().run()


if __name__ == "__main__":
    main()
