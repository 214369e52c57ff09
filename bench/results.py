"""What a measurement found: its figures, each with the bar it must meet, and its notes.

Apart from ``bench.common`` so that ``bench.report`` can render results without depending on
the machinery that measures them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """One measured number, with the bar it must meet (if any) and whether it does."""

    name: str
    value: float | None
    unit: str = ""
    #: The bar as people read it ("< 50 ms"); empty for a figure given for information.
    bar: str = ""
    #: True: meets the bar; False: short of it; None: no bar.
    ok: bool | None = None

    @property
    def verdict(self) -> str:
        """PASS, SHORT or an empty string (no bar)."""
        if self.ok is None:
            return ""
        return "PASS" if self.ok else "SHORT"


@dataclass
class Result:
    """Everything one measurement found."""

    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    #: Detail rows (a table in RESULTS.md): the first row is the header.
    table: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Set when the measurement could not run (a missing piece); the reason in words.
    error: str | None = None
    seconds: float = 0.0
    quick: bool = False

    def add(
        self,
        name: str,
        value: float | None,
        unit: str = "",
        bar: str = "",
        ok: bool | None = None,
    ) -> Figure:
        """Record a figure and return it."""
        figure = Figure(name, value, unit, bar, ok)
        self.figures.append(figure)
        return figure

    @property
    def short(self) -> list[Figure]:
        """Figures that miss their bar."""
        return [f for f in self.figures if f.ok is False]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (kept in bench/out/<report name>.json)."""
        return asdict(self)
