"""``python -m bench``: run every measurement and write bench/RESULTS.md.

.venv/bin/python -m bench                 # full sizes (about 50 minutes), RESULTS.md
.venv/bin/python -m bench --quick         # tiny sizes, bench/out/RESULTS-quick.md
.venv/bin/python -m bench --only webhook,memory
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from bench.common import OUT_DIR, ROOT, machine_description, timed
from bench.report import now_utc, render
from bench.results import Figure, Result

#: Measurement modules, in the order they run and appear (bench/<name>.py, each ``run``).
MEASUREMENTS = ("webhook", "routing_scale", "dispatch", "memory", "busy_hour", "durability")
#: Hand-written findings (profiles of bars missed) included at the end of RESULTS.md.
ANALYSIS = ROOT / "bench" / "analysis.md"


def run_all(names: list[str], quick: bool) -> list[Result]:
    """Run the named measurements one after the other, printing each verdict."""
    results = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"[bench] {name} ...", flush=True)
        result = timed(module.run, quick)
        result.key = name
        verdict = (
            "NOT MEASURED: " + result.error
            if result.error
            else ("SHORT: " + ", ".join(f.name for f in result.short) if result.short else "ok")
        )
        print(f"[bench] {name}: {verdict} ({result.seconds:.0f} s)", flush=True)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run, write the report; exit 1 if any bar is missed."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument(
        "--only", default="", help="comma-separated subset of: " + ",".join(MEASUREMENTS)
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="report path (default bench/RESULTS.md, or bench/out/RESULTS-quick.md with --quick)",
    )
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="rewrite the report from the figures of its last run (bench/out/<report>.json) "
        "with the current bench/analysis.md, measuring nothing",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MEASUREMENTS)
    unknown = [n for n in names if n not in MEASUREMENTS]
    if unknown:
        parser.error(f"unknown measurement(s): {', '.join(unknown)}")
    output = args.output or (
        OUT_DIR / "RESULTS-quick.md" if args.quick else ROOT / "bench" / "RESULTS.md"
    )
    if args.rerender:
        return rerender(args.output or ROOT / "bench" / "RESULTS.md")
    command = ".venv/bin/python -m bench" + (
        " " + " ".join(sys.argv[1:]) if argv is None and sys.argv[1:] else ""
    )
    machine = machine_description()
    started = time.monotonic()
    results = run_all(names, args.quick)
    machine["load average at end"] = " ".join(f"{x:.2f}" for x in __import__("os").getloadavg())
    analysis = ANALYSIS.read_text() if ANALYSIS.exists() else ""
    text = render(results, machine, command, time.monotonic() - started, analysis_text(analysis))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    run_data(output).write_text(
        json.dumps(
            {
                "machine": machine,
                "command": command,
                "seconds": time.monotonic() - started,
                "when": now_utc(),
                "results": [r.to_dict() for r in results],
            },
            indent=2,
            default=str,
        )
    )
    print(f"[bench] wrote {output}")
    return 1 if any(r.error or r.short for r in results) else 0


def rerender(output: Path) -> int:
    """Rewrite a report from the figures of its last run (bench/out/<report name>.json) with
    today's analysis."""
    data = json.loads(run_data(output).read_text())
    results = []
    for raw in data["results"]:
        figures = [Figure(**f) for f in raw.pop("figures")]
        results.append(Result(**raw, figures=figures))
    analysis = ANALYSIS.read_text() if ANALYSIS.exists() else ""
    text = render(
        results,
        data["machine"],
        data["command"],
        data["seconds"],
        analysis_text(analysis),
        when=data.get("when"),
    )
    output.write_text(text)
    print(f"[bench] rewrote {output} from {run_data(output)}")
    return 1 if any(r.error or r.short for r in results) else 0


def run_data(output: Path) -> Path:
    """Where the figures behind a report are kept (bench/out/<report name>.json), so that a
    quick or partial run never replaces those of the full report."""
    return OUT_DIR / f"{output.stem}.json"


def analysis_text(text: str) -> str:
    """The hand-written analysis as a section of the report."""
    return f"## Profiles and analysis\n\n{text.strip()}\n" if text.strip() else ""


if __name__ == "__main__":
    sys.exit(main())
