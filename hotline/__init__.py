"""Hotline's application glue: the app factory, the command line, shared clients."""

from hotline.app import create_app

__all__ = ["create_app"]
