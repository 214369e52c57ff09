"""Every Redis key Hotline uses, as named templates under one prefix.

Keys never contain a phone number: numbers are looked up by a keyed hash (see
``routing.phones.number_digest``).
"""

from __future__ import annotations

PREFIX = "hotline:"

#: Hash: one lead (see routing.leads.Lead).
LEAD = PREFIX + "lead:{0}"
#: List of JSON objects: each callback attempt of a lead and its outcome.
LEAD_ATTEMPTS = PREFIX + "lead:{0}:attempts"
#: List of JSON objects: the lead's history (every status change), newest last.
LEAD_EVENTS = PREFIX + "lead:{0}:events"
#: String: lead id created for an inbound CallSid (SET NX makes intake idempotent).
CALL_LEAD = PREFIX + "call:{0}:lead"
#: Hash: IVR session of an inbound call (step, tries, answers so far). Expires.
IVR_SESSION = PREFIX + "ivr:{0}"
#: String: id of the pending lead for a phone number digest.
PENDING_BY_NUMBER = PREFIX + "pending:{0}"
#: Sorted set: every lead id by creation time (history, stats).
LEADS_BY_TIME = PREFIX + "leads"
#: Counter used to mint lead ids.
LEAD_SEQ = PREFIX + "seq:lead"

#: Hash: one counselor.
COUNSELOR = PREFIX + "counselor:{0}"
#: Set: every counselor id.
COUNSELORS = PREFIX + "counselors"
#: Counter used to mint counselor ids.
COUNSELOR_SEQ = PREFIX + "seq:counselor"

#: Hash: daily counters (calls, leads, abandoned, connected, unreachable, ...) by date.
DAILY_STATS = PREFIX + "stats:{0}"

#: Sorted set per skill bucket: waiting lead ids of one language and insurance, scored by
#: Lead.queue_score. ``WAITING.format("es", "medicaid")``.
WAITING = PREFIX + "waiting:{0}:{1}"
#: Sorted set: every waiting lead id, same scores (position in line, dashboard order).
WAITING_ALL = PREFIX + "waiting"

# --- Accounts, audit, dispositions (issue 5: console and dashboard) ---------------------
#: Hash: one web user (username, password_hash, role, counselor_id, created_at).
USER = PREFIX + "user:{0}"
#: Hash: username (lower-cased) -> user id.
USERS_BY_NAME = PREFIX + "users:by-name"
#: Counter used to mint user ids.
USER_SEQ = PREFIX + "seq:user"
#: Stream: the audit log (who read or changed which lead, when). Capped by length.
AUDIT = PREFIX + "audit"
#: Set: number digests (routing.phones.number_digest) of people who asked not to be called.
DO_NOT_CALL = PREFIX + "dnc"
#: Hash: the disposition of a lead's last call (value, note, by, at, callback_at).
LEAD_DISPOSITION = PREFIX + "lead:{0}:disposition"
#: Hash: counselor id -> lead id awaiting that counselor's disposition (wrap-up).
AWAITING_DISPOSITION = PREFIX + "awaiting-disposition"
