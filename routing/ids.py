"""Record ids minted ahead, a block at a time, so a script is given the keys of the record
it creates instead of building them from a counter it increments (every key a script
touches is passed in KEYS: docs/ARCHITECTURE.md, "High availability and cluster mode").

Each process takes ``BLOCK`` ids at once with INCRBY and hands them out in order: one
round trip per block instead of one per record. Ids stay short and opaque; a process that
stops leaves a gap, and ids from two processes interleave, which nothing relies on (the
order of leads is their time, kept in sorted sets). A script still checks that the record
does not exist (a counter that went back, as after a restore, cannot overwrite one).
"""

from __future__ import annotations

import threading
from collections import deque

from redis import Redis

#: Ids taken per INCRBY.
BLOCK = 16


class IdBlocks:
    """Ids of one kind (``prefix`` and ``digits``, as ``L000123``) from the counter at
    ``counter_key``, per Redis server (a process may talk to several, as tests do)."""

    def __init__(self, counter_key: str, prefix: str, digits: int):
        self.counter_key, self.prefix, self.digits = counter_key, prefix, digits
        self._lock = threading.Lock()
        self._free: dict[int, deque[int]] = {}

    def take(self, r: Redis) -> str:
        """The next id for ``r``'s server (a new block when this process has none left)."""
        with self._lock:
            free = self._free.setdefault(id(r.connection_pool), deque())
            if not free:
                last = int(r.incrby(self.counter_key, BLOCK))  # type: ignore[arg-type]
                free.extend(range(last - BLOCK + 1, last + 1))
            return f"{self.prefix}{free.popleft():0{self.digits}d}"

    def give_back(self, r: Redis, minted: str) -> None:
        """An id taken and not used (the call had a lead already): the next take gets it."""
        with self._lock:
            self._free.setdefault(id(r.connection_pool), deque()).appendleft(
                int(minted[len(self.prefix) :])
            )
