"""The stand-in's Flask app: Twilio's REST API and the stand-in's control API over one
switchboard, which the views reach through ``current_app.extensions["standin"]``."""

from __future__ import annotations

from flask import Flask

from twilio_standin.control import bp as control_api
from twilio_standin.rest import bp as rest_api
from twilio_standin.switchboard import Switchboard


def create_app(switchboard: Switchboard) -> Flask:
    """The WSGI app serving ``switchboard``: the REST and control blueprints."""
    app = Flask("twilio_standin")
    app.extensions["standin"] = switchboard
    app.register_blueprint(rest_api)
    app.register_blueprint(control_api)
    return app
