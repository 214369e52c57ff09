"""The queue of waiting callbacks: one sorted set per (language, insurance) bucket plus one
set of all, every member scored by ``Lead.queue_score`` (priority with aging, fixed for life).

Only the heads of the bucket sets are ever read by matching, so its cost does not grow with
the number waiting.
"""

from __future__ import annotations

from redis import Redis

from routing import keys
from routing.leads import INSURANCE, LANGUAGES, Lead
from settings import Settings

#: Average minutes a callback occupies a counselor, for the estimate given to callers before
#: any real history exists.
DEFAULT_HANDLE_SECONDS = 600


def bucket_key(language: str, insurance: str) -> str:
    """The sorted set of one skill bucket."""
    return keys.WAITING.format(language, insurance)


def all_bucket_keys() -> list[str]:
    """Every bucket's key (2 languages x 6 insurance values)."""
    return [bucket_key(lang, ins) for lang in LANGUAGES for ins in INSURANCE]


def add_waiting(r: Redis, settings: Settings, lead: Lead) -> None:
    """Put a lead in line at its fixed score (a retry returns to its original place)."""
    score = lead.queue_score(settings.urgent_head_start, settings.self_head_start)
    pipe = r.pipeline(transaction=True)
    pipe.zadd(bucket_key(lead.language, lead.insurance), {lead.id: score})
    pipe.zadd(keys.WAITING_ALL, {lead.id: score})
    pipe.execute()


def remove_waiting(r: Redis, lead: Lead) -> bool:
    """Take a lead out of line; True if it was waiting."""
    pipe = r.pipeline(transaction=True)
    pipe.zrem(bucket_key(lead.language, lead.insurance), lead.id)
    pipe.zrem(keys.WAITING_ALL, lead.id)
    removed, _ = pipe.execute()
    return bool(removed)


def position(r: Redis, lead_id: str) -> int | None:
    """1-based place in line, or None if not waiting."""
    rank = r.zrank(keys.WAITING_ALL, lead_id)
    return None if rank is None else int(rank) + 1


def waiting_count(r: Redis) -> int:
    """How many callbacks are waiting."""
    return int(r.zcard(keys.WAITING_ALL))


def estimate_wait_seconds(r: Redis, place: int) -> int:
    """An honest estimate of the wait for the caller at ``place`` in line.

    Refined by the routing issue with the number of counselors working and their real
    handle times; until then, one handle time per place ahead.
    """
    return max(60, place * DEFAULT_HANDLE_SECONDS)
