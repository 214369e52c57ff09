"""Compressible time: the stand-in's rings, pauses and timeouts run ``factor`` times faster."""

from __future__ import annotations

import threading
import time


class Clock:
    """Virtual time that runs ``factor`` times faster than real time (1.0: real time)."""

    def __init__(self, factor: float = 1.0) -> None:
        if factor <= 0:
            raise ValueError("clock factor must be above 0")
        self.factor = factor
        self._epoch = time.time()
        self._start = time.monotonic()

    def set_factor(self, factor: float) -> None:
        """Change the speed from now on; virtual time stays continuous."""
        if factor <= 0:
            raise ValueError("clock factor must be above 0")
        self._epoch = self.now()
        self._start = time.monotonic()
        self.factor = factor

    def now(self) -> float:
        """Virtual seconds since the epoch (what CallDuration and timestamps are made of)."""
        return self._epoch + (time.monotonic() - self._start) * self.factor

    def real(self, virtual_seconds: float) -> float:
        """Real seconds that ``virtual_seconds`` of call time take."""
        return max(0.0, virtual_seconds) / self.factor

    def sleep(self, virtual_seconds: float, interrupt: threading.Event | None = None) -> bool:
        """Let ``virtual_seconds`` of call time pass; True if ``interrupt`` was set meanwhile."""
        if interrupt is None:
            time.sleep(self.real(virtual_seconds))
            return False
        return interrupt.wait(self.real(virtual_seconds))
