"""Writing bench/RESULTS.md: the machine, the command, each figure with its bar and verdict."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.results import Figure, Result


def _value(figure: Figure) -> str:
    if figure.value is None:
        return "n/a"
    value = figure.value
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"
    return f"{text} {figure.unit}".strip()


def now_utc() -> str:
    """The time as the report prints it."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_result(result: Result) -> str:
    """One measurement as Markdown."""
    lines = [f"## {result.title}", ""]
    if result.error:
        lines += [f"**NOT MEASURED**: {result.error}", ""]
    if result.figures:
        lines += ["| figure | value | bar | verdict |", "|---|---|---|---|"]
        for f in result.figures:
            lines.append(f"| {f.name} | {_value(f)} | {f.bar} | {f.verdict} |")
        lines.append("")
    if result.table:
        header, *rows = result.table
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    lines += [note + "\n" for note in result.notes]
    lines.append(f"_Took {result.seconds:.0f} s{' (quick size)' if result.quick else ''}._")
    lines.append("")
    return "\n".join(lines)


def render(
    results: list[Result],
    machine: dict[str, str],
    command: str,
    total_seconds: float,
    appendix: str = "",
    when: str | None = None,
) -> str:
    """The whole RESULTS.md (``when``: the run's end, default now)."""
    when = when or now_utc()
    lines = [
        "# Hotline benchmark results",
        "",
        f"Written by `{command}` on {when} in {total_seconds / 60:.1f} minutes. "
        "Every figure that can be is a ratio against a baseline measured in the same run, "
        "because this machine is shared and noisy.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine.items()],
        "",
        "## Summary",
        "",
        "| measurement | figure | value | bar | verdict |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        if result.error:
            lines.append(f"| {result.title} | | | | NOT MEASURED |")
        for f in result.figures:
            if f.bar:
                lines.append(f"| {result.title} | {f.name} | {_value(f)} | {f.bar} | {f.verdict} |")
    short = [(r, f) for r in results for f in r.short]
    missing = [r for r in results if r.error]
    lines.append("")
    if short or missing:
        lines.append(
            "**Short of a bar or not measured:** "
            + "; ".join(
                [f"{r.key}: {f.name} = {_value(f)} (bar {f.bar})" for r, f in short]
                + [f"{r.key}: not measured" for r in missing]
            )
            + "."
        )
    else:
        lines.append("**Every bar is met.**")
    lines.append("")
    for result in results:
        lines.append(render_result(result))
    if appendix:
        lines += [appendix.strip(), ""]
    return "\n".join(lines)
