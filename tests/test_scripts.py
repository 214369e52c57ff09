"""Each Lua script has one owner: one function runs it (and passes it what it needs), so its
arguments are built in one place. Every script under routing/lua is used."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "routing" / "lua"


def owners() -> dict[str, set[str]]:
    """Script name -> the functions (module.function) that run it."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in [
        *ROOT.glob("*.py"),
        *(ROOT / "routing").rglob("*.py"),
        *(ROOT / "workers").rglob("*.py"),
    ]:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", getattr(node.func, "attr", "")) == "run_script"
                    and len(node.args) > 1
                    and isinstance(node.args[1], ast.Constant)
                ):
                    found[node.args[1].value].add(f"{module}.{function.name}")
    return found


def test_every_script_is_run_by_exactly_one_function() -> None:
    shared = {name: sorted(fns) for name, fns in owners().items() if len(fns) > 1}
    assert shared == {}


def test_every_script_file_is_used_and_every_name_run_exists() -> None:
    files = {p.stem for p in LUA.glob("*.lua") if not p.stem.startswith("_")}
    assert set(owners()) == files
