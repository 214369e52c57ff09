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
#: Hash: number digest -> id of the lead owed a callback at that number (a hint: checked
#: against the lead on every use; the link of a purged lead is deleted with it).
PENDING_LINKS = PREFIX + "pending"
#: Sorted set: every lead id by creation time (history, stats).
LEADS_BY_TIME = PREFIX + "leads"
#: Counter used to mint lead ids.
LEAD_SEQ = PREFIX + "seq:lead"

#: Hash: one counselor.
COUNSELOR = PREFIX + "counselor:{0}"
#: Set: every counselor id.
COUNSELORS = PREFIX + "counselors"
#: Hash: an active counselor's number (E.164) -> their id (a staff number, never a
#: caller's): finds "is this caller a counselor?" in one declared key.
COUNSELOR_PHONES = PREFIX + "counselor-phones"
#: Hash: an active counselor's id -> their status, mirrored by every script that sets it,
#: so the wait estimate reads one declared key.
COUNSELOR_STATES = PREFIX + "counselor-states"
#: Counter used to mint counselor ids.
COUNSELOR_SEQ = PREFIX + "seq:counselor"

#: Hash: daily counters (calls, leads, abandoned, connected, unreachable, ...) by date.
DAILY_STATS = PREFIX + "stats:{0}"

#: Sorted set per skill bucket: waiting lead ids of one language and insurance, scored by
#: Lead.queue_score. ``WAITING.format("es", "medicaid")``.
WAITING = PREFIX + "waiting:{0}:{1}"
#: Sorted set: every waiting lead id, same scores (position in line, dashboard order).
WAITING_ALL = PREFIX + "waiting"

# --- Matching and callbacks (issue 3: routing) -------------------------------------------
#: Sorted set of idle counselor ids by idle-since: ``IDLE.format(lang, ins)`` per insurance
#: served (a counselor with no specialisation is in all six) and ``IDLE.format(lang, "any")``.
IDLE = PREFIX + "idle:{0}:{1}"
#: Hash: one reservation (a lead offered to a counselor: the callback call's state).
RESERVATION = PREFIX + "reservation:{0}"
#: Counter used to mint reservation ids.
RESERVATION_SEQ = PREFIX + "seq:reservation"
#: Sorted set: live reservation id -> lease expiry (Unix s); the sweep reclaims expired ones.
LEASES = PREFIX + "leases"
#: Sorted set: counselor id -> end of wrap-up (Unix s).
WRAPUPS = PREFIX + "wrapups"
#: Sorted set: lead id -> when it is due back in line (retry_wait and deferred leads).
DUE = PREFIX + "due"
#: String set once (NX, expires) per reservation and leg: a retried job never dials twice.
DIAL_GUARD = PREFIX + "dial:{0}:{1}"
#: String: next free outbound-call slot (Unix s), shared by every worker (pacing).
PACING = PREFIX + "pacing"
#: String with a TTL: set while dialing is paused for an account-level Twilio error.
DIAL_PAUSED = PREFIX + "dial-paused"
#: String (JSON): the last account-level Twilio error, for the dashboard's banner.
ACCOUNT_TROUBLE = PREFIX + "account-trouble"
#: Sorted set: lead id -> when its inbound call began, for leads that may still be in the
#: IVR; the sweep asks Twilio about those it has heard nothing of for too long.
INTAKE = PREFIX + "intake"
#: List of recent handle times (s) of bridged calls, newest first (wait estimates).
HANDLE_TIMES = PREFIX + "handle-times"

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
#: List per counselor: ids of their latest reservations, newest first (capped), so the
#: console finds a finished call still wanting a disposition without a scan.
AWAITING_DISPOSITION = PREFIX + "awaiting-disposition:{0}"
#: String set once (NX, expires) per user and lead: the console's one-second refresh of an
#: open call is audited as one read per viewing, not one per refresh.
AUDIT_SEEN = PREFIX + "audit-seen:{0}:{1}"

# --- Retention (issue 10) ----------------------------------------------------------------
#: String: creation time (LEADS_BY_TIME score) the retention purge has walked up to.
RETENTION_CURSOR = PREFIX + "retention:cursor"
#: Sorted set: leads past retention still owed a callback, by creation time; purged once
#: they are settled.
RETENTION_HELD = PREFIX + "retention:held"
#: Hash: the purge's last run (at, purged, audit_trimmed) and its running total (total).
RETENTION_LAST = PREFIX + "retention:last"
#: String with a TTL: held by the one process purging right now (redis-py Lock).
RETENTION_LOCK = PREFIX + "retention:lock"

# --- Operations (issue 11) ---------------------------------------------------------------
#: Hash: lifetime counters for /metrics, written by every process with HINCRBY (fields in
#: routing.metrics: callbacks placed and ended by outcome, Twilio REST errors by code,
#: sweep runs and repairs). Never reset, never holds a number or an id.
METRICS = PREFIX + "metrics"
