"""2. Routing scale: the time to match one callback to a counselor with 100, 10,000 and
100,000 callbacks waiting and 10 and 1,000 counselors available.

Each queue size lives in its own private Redis, filled with pipelines, and single matches
(``routing.matching.match(limit=1)``, the production call) are timed round-robin across the
three servers so all sizes share the same machine noise. After each timed match the pair is
put back (untimed) so the sizes stay constant. Bar: the 100,000 case within 2x the 100 case.
"""

from __future__ import annotations

import random
import time
from contextlib import ExitStack
from typing import Any

import redis

from bench.common import (
    hotline_env,
    median,
    missing,
    percentile,
    private_redis,
    settings_for,
    standalone,
)
from bench.results import Result

BAR_RATIO = 2.0
SIZES = (100, 10_000, 100_000)
COUNSELORS = (10, 1000)
#: Pipeline chunk when filling.
CHUNK = 2000


def _lead_hash(n: int, now: float, rng: random.Random) -> tuple[str, dict[str, str], str, float]:
    """A waiting lead as intake leaves it (routing.leads.Lead), its bucket and score."""
    from routing.leads import INSURANCE, Lead, LeadStatus
    from routing.queue import bucket_key

    first = now - rng.uniform(0, 3600)
    lead = Lead(
        id=f"L{n:07d}",
        call_sid=f"CA{n:032x}",
        phone=f"+1415{n % 10_000_000:07d}",
        language="es" if rng.random() < 0.3 else "en",
        situation="self" if rng.random() < 0.6 else "other",
        urgent=rng.random() < 0.1,
        insurance=INSURANCE[n % len(INSURANCE)],
        consent_at=first + 60,
        first_call_at=first,
        created_at=first,
        status=LeadStatus.WAITING.value,
        updated_at=first + 60,
    )
    # Production head starts (settings defaults); the exact values do not change the cost.
    return (
        lead.id,
        lead.to_redis(),
        bucket_key(lead.language, lead.insurance),
        lead.queue_score(1800, 600),
    )


def fill_waiting(r: redis.Redis, count: int, seed: int = 6) -> None:
    """Put ``count`` waiting leads in line, with pipelines (lead hash + bucket + all)."""
    from routing import keys

    rng = random.Random(seed)
    now = time.time()
    for start in range(0, count, CHUNK):
        pipe = r.pipeline(transaction=False)
        for n in range(start, min(count, start + CHUNK)):
            lead_id, mapping, bucket, score = _lead_hash(n + 1, now, rng)
            pipe.hset(keys.LEAD.format(lead_id), mapping=mapping)
            pipe.zadd(bucket, {lead_id: score})
            pipe.zadd(keys.WAITING_ALL, {lead_id: score})
        pipe.execute()
    r.set(keys.LEAD_SEQ, count)


def add_counselors(r: redis.Redis, count: int) -> list[Any]:
    """Create ``count`` counselors with mixed skills (routing.counselors.create_counselor)."""
    from routing.counselors import create_counselor
    from routing.leads import INSURANCE

    made = []
    for i in range(count):
        languages = [["es"], ["en", "es"], ["en"], ["en"]][i % 4]
        insurance = [] if i % 3 == 0 else [INSURANCE[i % len(INSURANCE)]]
        made.append(
            create_counselor(r, f"Counselor {i}", f"+1628555{i % 10000:04d}", languages, insurance)
        )
    return made


def put_back(r: redis.Redis, reservation_id: str) -> None:
    """Undo one match (untimed): the lead back in line at its score, the counselor idle."""
    from routing import keys
    from routing.counselors import get_counselor
    from routing.queue import bucket_key

    res = r.hgetall(keys.RESERVATION.format(reservation_id))
    lead_id, counselor_id, score = res["lead_id"], res["counselor_id"], float(res["score"])
    language, insurance = r.hmget(keys.LEAD.format(lead_id), "language", "insurance")
    counselor = get_counselor(r, counselor_id)
    assert counselor is not None
    now = time.time()
    pipe = r.pipeline(transaction=True)
    pipe.delete(keys.RESERVATION.format(reservation_id))
    pipe.zrem(keys.LEASES, reservation_id)
    pipe.hset(keys.LEAD.format(lead_id), mapping={"status": "waiting", "reservation": ""})
    pipe.zadd(bucket_key(language, insurance), {lead_id: score})
    pipe.zadd(keys.WAITING_ALL, {lead_id: score})
    pipe.hset(
        keys.COUNSELOR.format(counselor_id),
        mapping={"status": "available", "reservation": "", "idle_since": repr(now)},
    )
    pipe.hset(keys.COUNSELOR_STATES, counselor_id, "available")
    for key in counselor.idle_keys():
        pipe.zadd(key, {counselor_id: now})
    pipe.execute()


def _evalsha_usec(r: redis.Redis) -> tuple[int, int]:
    stats = r.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def run(quick: bool = False) -> Result:
    """Fill, make counselors available, time single matches round-robin across sizes."""
    result = Result("routing_scale", "Routing scale (one match vs callbacks waiting)")
    reason = missing("routing.matching", "routing.counselors")
    if reason:
        result.error = reason
        return result
    from routing.counselors import make_available
    from routing.matching import match

    sizes = (100, 1000, 5000) if quick else SIZES
    counselor_counts = (10, 40) if quick else COUNSELORS
    samples = 15 if quick else 300
    with ExitStack() as stack:
        servers = {n: stack.enter_context(private_redis(f"scale-{n}")) for n in sizes}
        clients = {
            n: redis.Redis.from_url(s.url, decode_responses=True) for n, s in servers.items()
        }
        settings = settings_for(hotline_env(next(iter(servers.values())).url))
        fill_started = time.monotonic()
        for n, r in clients.items():
            fill_waiting(r, n)
        result.notes.append(
            f"Filled {sum(sizes):,} waiting leads with pipelines in "
            f"{time.monotonic() - fill_started:.1f} s."
        )
        counselors = {n: add_counselors(r, max(counselor_counts)) for n, r in clients.items()}
        available = 0
        result.table.append(
            [
                "callbacks waiting",
                "counselors available",
                "median ms",
                "p90 ms",
                "p99 ms",
                "in-Redis us/match",
            ]
        )
        medians: dict[tuple[int, int], float] = {}
        server_us: dict[tuple[int, int], float] = {}
        for m in counselor_counts:
            for n, r in clients.items():
                for c in counselors[n][available:m]:
                    make_available(r, c)
            available = m
            times: dict[int, list[float]] = {n: [] for n in sizes}
            before = {n: _evalsha_usec(r) for n, r in clients.items()}
            for _ in range(samples):
                for n, r in clients.items():
                    started = time.perf_counter()
                    made = match(r, settings, limit=1)
                    times[n].append((time.perf_counter() - started) * 1000)
                    if len(made) != 1:
                        raise RuntimeError(f"match made {len(made)} reservations, expected 1")
                    put_back(r, made[0])
            for n, r in clients.items():
                calls, usec = _evalsha_usec(r)
                calls0, usec0 = before[n]
                server_us[(n, m)] = (usec - usec0) / max(1, calls - calls0)
                medians[(n, m)] = median(times[n])
                result.table.append(
                    [
                        f"{n:,}",
                        str(m),
                        f"{medians[(n, m)]:.3f}",
                        f"{percentile(times[n], 90):.3f}",
                        f"{percentile(times[n], 99):.3f}",
                        f"{server_us[(n, m)]:.0f}",
                    ]
                )
        for r in clients.values():
            r.close()
    small, large = sizes[0], sizes[-1]
    for m in counselor_counts:
        ratio = medians[(large, m)] / medians[(small, m)]
        result.add(
            f"median match time, {large:,} / {small:,} waiting, {m} counselors",
            round(ratio, 2),
            "x",
            f"<= {BAR_RATIO:g}x",
            ratio <= BAR_RATIO,
        )
        result.add(
            f"median match time, {large:,} waiting, {m} counselors",
            round(medians[(large, m)], 3),
            "ms",
        )
        result.add(
            f"in-Redis time per match, {large:,} / {small:,} waiting, {m} counselors",
            round(server_us[(large, m)] / max(1e-9, server_us[(small, m)]), 2),
            "x",
        )
    result.notes.append(
        f"{samples} single matches per case (limit=1: one callback, one counselor), timed at "
        "the client (three round trips: the heads, their records, the reserving script); "
        "in-Redis time is the reserving script's EVALSHA time from INFO commandstats. "
        "Leads spread over the 12 buckets (30% Spanish, 10% urgent, first call within the "
        "last hour); counselors with mixed languages and insurance, a third unspecialised."
    )
    return result


if __name__ == "__main__":
    standalone(run)
