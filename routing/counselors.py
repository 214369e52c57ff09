"""Counselors: who they are, which skills they have, and their state (offline, available,
reserved, on a call, wrap-up, missed), kept consistent with the idle sets matching reads."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError

from routing import keys
from routing.errors import CounselorError
from routing.leads import INSURANCE, LANGUAGES
from routing.phones import mask
from routing.scripts import flat_pairs, run_script


class CounselorStatus(StrEnum):
    """Where a counselor is in their shift."""

    OFFLINE = "offline"  # not taking calls (a break is offline with a reason)
    AVAILABLE = "available"  # idle, in the idle sets
    RESERVED = "reserved"  # being dialed for a callback
    ON_CALL = "on_call"  # accepted a callback; the caller is being dialed or is bridged
    WRAP_UP = "wrap_up"  # after a bridged call, until WRAPUP_SECONDS have passed
    MISSED = "missed"  # idle again after missing an offer (MAX_MISSED_OFFERS -> offline)
    RETIRED = "retired"  # no longer works here: out of every list, kept for lead histories


#: Statuses matching may pick a counselor in.
FREE = (CounselorStatus.AVAILABLE.value, CounselorStatus.MISSED.value)
#: Statuses of counselors not working now (the wait estimate counts everyone else).
OFF_DUTY = (CounselorStatus.OFFLINE.value, CounselorStatus.RETIRED.value)
#: Statuses from which a counselor may be put offline at once (not in the middle of a call).
NOT_ON_A_CALL = (
    CounselorStatus.OFFLINE.value,
    CounselorStatus.AVAILABLE.value,
    CounselorStatus.MISSED.value,
    CounselorStatus.WRAP_UP.value,
)


def idle_key(language: str, insurance: str) -> str:
    """An idle set: counselors speaking ``language`` serving ``insurance`` (or "any")."""
    return keys.IDLE.format(language, insurance)


def all_idle_keys() -> list[str]:
    """Every idle set, in the fixed order the scripts expect (per bucket, then "any")."""
    return [idle_key(lang, ins) for lang in LANGUAGES for ins in INSURANCE] + [
        idle_key(lang, "any") for lang in LANGUAGES
    ]


@dataclass
class Counselor:
    """A counselor. ``insurance`` empty means they serve every insurance."""

    id: str
    name: str
    phone: str  # E.164
    languages: tuple[str, ...] = ("en",)
    insurance: tuple[str, ...] = ()
    status: str = CounselorStatus.OFFLINE.value
    status_reason: str = ""
    idle_since: float = 0.0
    missed_offers: int = 0
    reservation: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0

    @classmethod
    def from_redis(cls, data: dict[str, str]) -> Counselor:
        """Rebuild from HGETALL (decoded)."""
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            phone=data.get("phone", ""),
            languages=tuple(x for x in data.get("languages", "").split(",") if x),
            insurance=tuple(x for x in data.get("insurance", "").split(",") if x),
            status=data.get("status", CounselorStatus.OFFLINE.value),
            status_reason=data.get("status_reason", ""),
            idle_since=float(data.get("idle_since") or 0),
            missed_offers=int(data.get("missed_offers") or 0),
            reservation=data.get("reservation", ""),
            created_at=float(data.get("created_at") or 0),
            updated_at=float(data.get("updated_at") or 0),
        )

    def to_redis(self) -> dict[str, str]:
        """Flatten for HSET."""
        return {
            "id": self.id,
            "name": self.name,
            "phone": self.phone,
            "languages": ",".join(self.languages),
            "insurance": ",".join(self.insurance),
            "status": self.status,
            "status_reason": self.status_reason,
            "idle_since": repr(self.idle_since),
            "missed_offers": str(self.missed_offers),
            "reservation": self.reservation,
            "created_at": repr(self.created_at),
            "updated_at": repr(self.updated_at),
        }

    def idle_keys(self) -> list[str]:
        """The idle sets this counselor belongs in while free."""
        served = self.insurance or INSURANCE
        out = [idle_key(lang, ins) for lang in self.languages for ins in served]
        return out + [idle_key(lang, "any") for lang in self.languages]

    def public(self, now: float | None = None) -> dict[str, Any]:
        """A JSON-safe view (API, dashboard) with the number masked."""
        now = time.time() if now is None else now
        free = self.status in FREE
        return {
            "id": self.id,
            "name": self.name,
            "phone": mask(self.phone),
            "languages": list(self.languages),
            "insurance": list(self.insurance),
            "status": self.status,
            "status_reason": self.status_reason,
            "missed_offers": self.missed_offers,
            "reservation": self.reservation or None,
            "idle_seconds": max(0, int(now - self.idle_since)) if free else None,
        }


#: Longest counselor name (the same for the API, the admin page and the dashboard's edit).
MAX_NAME = 80


def clean_name(name: str) -> str:
    """A counselor's name with its spaces tidied; CounselorError unless 1-MAX_NAME long."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise CounselorError(f"name: 1-{MAX_NAME} characters")
    return name


def validate(languages: list[str], insurance: list[str]) -> None:
    """Raise CounselorError unless the skills are known values."""
    if not languages:
        raise CounselorError("languages: at least one of " + ", ".join(LANGUAGES))
    bad = [x for x in languages if x not in LANGUAGES]
    if bad:
        raise CounselorError(f"languages: unknown {bad}; expected {', '.join(LANGUAGES)}")
    bad = [x for x in insurance if x not in INSURANCE]
    if bad:
        raise CounselorError(f"insurance: unknown {bad}; expected {', '.join(INSURANCE)}")


class PhoneInUse(CounselorError):
    """Another active counselor has this number: one phone cannot take two callbacks, and
    the one already on a call would be rung for the next."""

    def __init__(self, holder: Counselor):
        super().__init__(f"phone: {holder.name} ({holder.id}) already has this number")
        self.holder = holder


def holder_of(r: Redis, phone: str, *, other_than: str = "") -> Counselor | None:
    """The active (not retired) counselor with number ``phone`` (E.164), except
    ``other_than``; None if nobody has it. One HGET (keys.COUNSELOR_PHONES)."""
    holder = r.hget(keys.COUNSELOR_PHONES, phone)
    if not holder or holder == other_than:
        return None
    return get_counselor(r, str(holder))


def index_counselors(r: Redis) -> int:
    """Rebuild the two counselor indexes (keys.COUNSELOR_PHONES, keys.COUNSELOR_STATES)
    from the active counselors' own records, atomically (routing/lua/counselor_index.lua,
    given every counselor's key): the sweep runs it, so an index a crash or an older
    version left wrong is right again within a sweep. Returns the counselors indexed."""
    while True:
        ids = sorted(r.smembers(keys.COUNSELORS))  # type: ignore[arg-type]
        done = run_script(
            r,
            "counselor_index",
            [
                keys.COUNSELORS,
                keys.COUNSELOR_PHONES,
                keys.COUNSELOR_STATES,
                *(keys.COUNSELOR.format(cid) for cid in ids),
            ],
            ids,
        )
        if done is not None:  # None: a counselor was added or retired meanwhile
            return int(done)


def create_counselor(
    r: Redis, name: str, phone: str, languages: list[str], insurance: list[str] | None = None
) -> Counselor:
    """Add a counselor (offline until they make themselves available); PhoneInUse if an
    active counselor already has the number."""
    insurance = insurance or []
    name = clean_name(name)
    validate(languages, insurance)
    now = time.time()
    counselor = Counselor(
        id="",
        name=name,
        phone=phone,
        languages=tuple(dict.fromkeys(languages)),
        insurance=tuple(dict.fromkeys(insurance)),
        created_at=now,
        updated_at=now,
    )
    with r.pipeline(transaction=True) as pipe:
        while True:
            # Watching the set of active counselors: two admins adding the same number at
            # once cannot both succeed (the second sees the first when it tries again).
            pipe.watch(keys.COUNSELORS)
            holder = holder_of(r, phone)
            if holder is not None:
                pipe.reset()
                raise PhoneInUse(holder)
            if not counselor.id:
                counselor.id = f"C{r.incr(keys.COUNSELOR_SEQ):04d}"
            pipe.multi()
            pipe.hset(keys.COUNSELOR.format(counselor.id), mapping=counselor.to_redis())
            pipe.sadd(keys.COUNSELORS, counselor.id)
            pipe.hset(keys.COUNSELOR_PHONES, phone, counselor.id)
            pipe.hset(keys.COUNSELOR_STATES, counselor.id, counselor.status)
            try:
                pipe.execute()
            except WatchError:
                continue
            return counselor


def get_counselor(r: Redis, counselor_id: str) -> Counselor | None:
    """Load a counselor, or None."""
    data = r.hgetall(keys.COUNSELOR.format(counselor_id))
    return Counselor.from_redis(data) if data else None  # type: ignore[arg-type]


def list_counselors(r: Redis) -> list[Counselor]:
    """Every counselor, by id."""
    ids = sorted(r.smembers(keys.COUNSELORS))  # type: ignore[arg-type]
    pipe = r.pipeline(transaction=False)
    for cid in ids:
        pipe.hgetall(keys.COUNSELOR.format(cid))
    return [Counselor.from_redis(d) for d in pipe.execute() if d]


def set_state(
    r: Redis,
    counselor: Counselor,
    allowed: tuple[str, ...],
    status: str,
    *,
    now: float | None = None,
    holding: str = "",
    wrapup_until: float | None = None,
    **fields: Any,
) -> bool:
    """Atomically move a counselor from one of ``allowed`` to ``status``, joining the idle
    sets if the new status is free and leaving them otherwise. False if not allowed (or,
    with ``holding``, if the counselor no longer holds that reservation)."""
    now = time.time() if now is None else now
    every = all_idle_keys()
    join = counselor.idle_keys() if status in FREE else []
    indexes = " ".join(str(every.index(k) + 1) for k in join)
    if status in FREE:
        fields.setdefault("idle_since", repr(now))
    args: list[Any] = [
        " ".join(allowed),
        status,
        repr(now),
        holding,
        "" if wrapup_until is None else repr(wrapup_until),
        indexes,
        *flat_pairs(fields),
    ]
    keys_ = [keys.COUNSELOR.format(counselor.id), keys.WRAPUPS, keys.COUNSELOR_STATES, *every]
    return bool(run_script(r, "counselor_state", keys_, args))


def make_available(r: Redis, counselor: Counselor, now: float | None = None) -> bool:
    """Counselor says they are ready: join the idle sets (longest idle goes first)."""
    return set_state(
        r,
        counselor,
        NOT_ON_A_CALL,
        CounselorStatus.AVAILABLE.value,
        now=now,
        status_reason="",
        missed_offers="0",
        reservation="",
    )


def make_offline(
    r: Redis, counselor: Counselor, reason: str = "", now: float | None = None
) -> bool:
    """Take a counselor out of rotation; False while they are on a call or being dialed."""
    return set_state(
        r,
        counselor,
        NOT_ON_A_CALL,
        CounselorStatus.OFFLINE.value,
        now=now,
        status_reason=reason,
        reservation="",
    )


def retire_counselor(r: Redis, counselor: Counselor, now: float | None = None) -> bool:
    """A counselor who has left: out of rotation and off every list, their record kept
    (lead histories name them). False while they are on a call or being dialed; retiring
    twice is not an error."""
    retired = CounselorStatus.RETIRED.value
    changed = set_state(
        r,
        counselor,
        (*NOT_ON_A_CALL, retired),
        retired,
        now=now,
        status_reason="retired",
        reservation="",
    )
    if changed:
        unlist_counselor(r, counselor)
    return changed


def unlist_counselor(r: Redis, counselor: Counselor) -> None:
    """Take a retired counselor off the active set and both indexes (their number only
    while it still names them)."""

    def unlist(pipe: Pipeline) -> None:
        mine = pipe.hget(keys.COUNSELOR_PHONES, counselor.phone) == counselor.id
        pipe.multi()
        pipe.srem(keys.COUNSELORS, counselor.id)
        pipe.hdel(keys.COUNSELOR_STATES, counselor.id)
        if mine:
            pipe.hdel(keys.COUNSELOR_PHONES, counselor.phone)

    r.transaction(unlist, keys.COUNSELOR_PHONES)


def move_phone(r: Redis, counselor_id: str, old: str, new: str) -> None:
    """Point the number index at a counselor's new number (and off ``old``, only while it
    still names them)."""

    def move(pipe: Pipeline) -> None:
        mine = pipe.hget(keys.COUNSELOR_PHONES, old) == counselor_id
        pipe.multi()
        if mine and old != new:
            pipe.hdel(keys.COUNSELOR_PHONES, old)
        pipe.hset(keys.COUNSELOR_PHONES, new, counselor_id)

    r.transaction(move, keys.COUNSELOR_PHONES)


def end_wrapup(r: Redis, counselor_id: str, now: float | None = None) -> bool:
    """Wrap-up is over: available again (idle since now)."""
    counselor = get_counselor(r, counselor_id)
    if counselor is None:
        r.zrem(keys.WRAPUPS, counselor_id)
        return False
    return set_state(
        r,
        counselor,
        (CounselorStatus.WRAP_UP.value,),
        CounselorStatus.AVAILABLE.value,
        now=now,
        reservation="",
    )


def due_wrapups(r: Redis, now: float) -> list[str]:
    """Counselors whose wrap-up has ended."""
    return list(r.zrangebyscore(keys.WRAPUPS, "-inf", now, start=0, num=500))
