"""Hotline's web side: the app factory (``hotline.app``), its blueprints, the command line.

Importing the package imports nothing else, so ``from hotline import audit`` does not build
the whole app, and nothing below the web depends on it.
"""
