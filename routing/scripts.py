"""The Lua scripts under routing/lua, loaded once per process and run by name.

Each script is hashed once and run with EVALSHA; redis-py loads it again by itself when a
server answers NOSCRIPT (a restarted or failed-over Redis), so no caller ever sees that.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from redis import Redis
from redis.commands.core import Script

LUA_DIR = Path(__file__).with_name("lua")


#: Lua shared by every script (Redis has no includes), put in front of each.
PRELUDE = (LUA_DIR / "_prelude.lua").read_bytes()


@cache
def _script(name: str) -> Script:
    # Bytes source: Script hashes it once; redis-py loads it on the first NOSCRIPT reply.
    source = PRELUDE + (LUA_DIR / f"{name}.lua").read_bytes()
    return Script(None, source)  # type: ignore[arg-type]


def run_script(r: Redis, name: str, keys_: list[str], args: list[Any]) -> Any:
    """Run routing/lua/<name>.lua with ``keys_`` and ``args`` (each sent as a string)."""
    return _script(name)(keys=keys_, args=[str(a) for a in args], client=r)


def flat_pairs(mapping: Mapping[str, Any]) -> list[Any]:
    """A mapping as the field, value, field, value ... list HSET and our scripts take."""
    return [item for pair in mapping.items() for item in pair]
