"""The layers hold: imports run one way (web -> workers -> routing -> keys/settings), nothing
below the web imports it, and no module imports another that imports it back (counting
imports inside functions, which run later but still tie two modules together)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("routing", "workers", "hotline", "twilio_standin", "bench")
TOP_MODULES = ("settings", "webhooks")
#: What each layer may not import (the web is hotline/ and webhooks.py).
FORBIDDEN = {
    "routing": ("hotline", "workers", "webhooks", "flask", "twilio_standin"),
    "workers": ("hotline", "webhooks", "flask", "twilio_standin"),
    "settings": ("hotline", "workers", "webhooks", "routing", "flask"),
    "twilio_standin": ("hotline", "workers", "webhooks", "routing", "settings"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {p.stem: p for p in ROOT.glob("*.py") if p.stem in TOP_MODULES}
    for package in PACKAGES:
        found.update({module_name(p): p for p in (ROOT / package).rglob("*.py")})
    return found


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth, TYPE_CHECKING blocks excepted."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


GRAPH = {name: {m for m in imports(path) if m != name} for name, path in modules().items()}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_nothing_imports_a_layer_above_it(layer: str) -> None:
    upward = {
        name: sorted(m for m in deps if m.split(".")[0] in FORBIDDEN[layer])
        for name, deps in GRAPH.items()
        if name.split(".")[0] == layer
    }
    assert {k: v for k, v in upward.items() if v} == {}


def test_no_import_cycles() -> None:
    ours = {name: {m for m in deps if m in GRAPH} for name, deps in GRAPH.items()}
    cycles = []
    for start in ours:
        # Depth-first from each module: a path back to it is a cycle.
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for nxt in ours[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


def test_the_import_graph_is_read_from_the_code() -> None:
    assert "routing.keys" in GRAPH["routing.leads"]  # the graph is real, not empty
    assert "workers.jobs" in GRAPH["webhooks"]
