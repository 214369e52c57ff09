"""Hotline's benchmarks: speed and scale measured side by side on the machine at hand.

Run them all with ``.venv/bin/python -m bench`` (see bench/README.md); each measurement
module also runs alone, e.g. ``.venv/bin/python -m bench.webhook --quick``.
"""
