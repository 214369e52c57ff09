"""4. Memory: Redis memory per waiting callback, the lead hash and every index, for leads
created exactly as intake creates them (``routing.intake``: the inbound call and every IVR
step up to confirming the caller ID, which queues the lead).

Measured as the INFO ``used_memory`` delta over N leads (allocator overhead included), with a
per-key MEMORY USAGE breakdown of one lead. Bar: under 2 KB per waiting callback.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import redis

from bench.common import hotline_env, missing, private_redis, settings_for, standalone
from bench.results import Result
from bench.webhook import call_sid, caller_number

BAR_BYTES = 2048
LEADS = 10_000
#: The IVR answers of a lead, varied as in the webhook load.
THREADS = 4


def create_lead(r: redis.Redis, settings: object, n: int) -> None:
    """One caller through the IVR by the domain functions the webhooks call."""
    from routing import intake

    sid, phone = call_sid(n), caller_number(n)
    intake.answer_call(r, settings, sid, phone)  # type: ignore[arg-type]
    for step, digits in (
        ("language", "1" if n % 10 < 7 else "2"),
        ("situation", "1" if n % 5 < 3 else "2"),
        ("urgency", "1" if n % 10 == 0 else "2"),
        ("insurance", str(1 + n % 6)),
        ("caller-id", "1"),
    ):
        intake.answer_step(r, settings, sid, step, digits, phone)  # type: ignore[arg-type]


def create_leads(url: str, settings: object, first: int, count: int) -> None:
    """``count`` leads from ``first``, on a few threads (each its own connection pool)."""

    def batch(offset: int) -> None:
        r = redis.Redis.from_url(url, decode_responses=True)
        for n in range(first + offset, first + count, THREADS):
            create_lead(r, settings, n)
        r.close()

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(batch, range(THREADS)))


def _used(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def run(quick: bool = False) -> Result:
    """Create leads, measure the memory they hold."""
    result = Result("memory", "Memory per waiting callback (Redis)")
    reason = missing("routing.intake")
    if reason:
        result.error = reason
        return result
    from routing import keys
    from routing.queue import waiting_count

    count = 500 if quick else LEADS
    with private_redis("memory") as server:
        r = redis.Redis.from_url(server.url, decode_responses=True)
        settings = settings_for(hotline_env(server.url))
        # Warm-up: one-time structures (the sorted sets, counters, daily stats) exist first.
        create_leads(server.url, settings, 1, 200)
        before = _used(r)
        waiting_before = waiting_count(r)
        create_leads(server.url, settings, 1000, count)
        after_all = _used(r)
        queued = waiting_count(r) - waiting_before
        if queued != count:
            raise RuntimeError(f"{queued} of {count} leads are waiting")
        # The IVR sessions expire a day after the call; without them, what a lead keeps.
        sessions = [keys.IVR_SESSION.format(call_sid(n)) for n in range(1000, 1000 + count)]
        sample_sid = call_sid(1000)
        lead_id = r.get(keys.CALL_LEAD.format(sample_sid))
        breakdown = {
            "lead hash": keys.LEAD.format(lead_id),
            "lead events list": keys.LEAD_EVENTS.format(lead_id),
            "CallSid -> lead": keys.CALL_LEAD.format(sample_sid),
            "IVR session (expires after a day)": keys.IVR_SESSION.format(sample_sid),
        }
        result.table.append(["key of one lead", "MEMORY USAGE bytes"])
        for label, key in breakdown.items():
            usage = r.memory_usage(key, samples=0) if key else None
            result.table.append([label, str(usage) if usage is not None else "absent"])
        total_members = {
            "waiting (all)": keys.WAITING_ALL,
            "leads by time": keys.LEADS_BY_TIME,
            "pending links (number digest -> lead)": keys.PENDING_LINKS,
        }
        for label, key in total_members.items():
            size = r.hlen(key) if key == keys.PENDING_LINKS else r.zcard(key)
            usage = r.memory_usage(key, samples=0) or 0
            result.table.append([f"{label}: per member", f"{usage / max(1, size):.0f}"])
        r.delete(*sessions)
        after_lasting = _used(r)
        r.close()
    per_lead = (after_all - before) / count
    lasting = (after_lasting - before) / count
    result.add(
        "memory per waiting callback, IVR session included",
        round(per_lead),
        "bytes",
        f"< {BAR_BYTES} bytes",
        per_lead < BAR_BYTES,
    )
    result.add("memory per waiting callback, once its IVR session expired", round(lasting), "bytes")
    result.notes.append(
        f"INFO used_memory delta over {count:,} leads created through routing.intake (inbound "
        "call, language, situation, urgency, insurance, caller ID confirmed: status waiting), "
        "after 200 warm-up leads; allocator overhead included. Everything a waiting callback "
        "holds is counted: lead hash, events list, CallSid link, pending-by-number link, its "
        "members in the waiting bucket, the waiting set and the leads-by-time set, and the IVR "
        "session (kept a day after the call)."
    )
    return result


if __name__ == "__main__":
    standalone(run)
