"""Leads waiting for a time (routing.due): the due list never loses a lead that is waiting
for one, however its status changes while it is being looked at."""

from __future__ import annotations

import time
from typing import Any

import redis

from routing import keys
from routing.due import requeue_due
from routing.leads import Lead, LeadStatus
from settings import Settings
from tests.records import save_lead


class ChangesAfterReading(redis.Redis):
    """A client that lets another process change the lead right after it was read: the
    moment a reservation could end with it (put back on the due list) in real life."""

    then: Any = None
    fired = False

    def execute_command(self, *args: Any, **options: Any) -> Any:
        result = super().execute_command(*args, **options)
        if args[0] == "HGETALL" and not self.fired:
            self.fired = True
            self.then()
        return result


def test_a_lead_put_back_on_the_due_list_while_a_stale_entry_is_dropped_stays_there(
    r: redis.Redis, settings: Settings, redis_server: Any
) -> None:
    """A stale due entry (the lead was reserved) is being dropped when the reservation ends
    in a retry and puts the lead on the due list again: it stays there."""
    lead = Lead(id="L000001", call_sid="CA1", phone="+12125550123", first_call_at=time.time())
    lead.status = LeadStatus.RESERVED.value
    save_lead(r, lead)
    r.zadd(keys.DUE, {lead.id: time.time() - 5})  # an old retry's entry, now stale
    retry_at = time.time() + 300

    def reservation_ends_in_a_retry() -> None:
        r.hset(keys.LEAD.format(lead.id), "status", LeadStatus.RETRY_WAIT.value)
        r.zadd(keys.DUE, {lead.id: retry_at})

    racing = ChangesAfterReading.from_url(redis_server.url, decode_responses=True)
    racing.then = reservation_ends_in_a_retry
    assert requeue_due(racing, settings, lead.id) == LeadStatus.RESERVED.value  # as read
    assert racing.fired
    assert r.zscore(keys.DUE, lead.id) == retry_at  # not lost: the sweep will bring it back
    racing.close()


def test_a_stale_due_entry_is_dropped(r: redis.Redis, settings: Settings) -> None:
    """A due entry of a lead that is no longer waiting for a time goes."""
    lead = Lead(id="L000002", call_sid="CA2", phone="+12125550123", first_call_at=time.time())
    lead.status = LeadStatus.CONNECTED.value
    save_lead(r, lead)
    r.zadd(keys.DUE, {lead.id: time.time() - 5})
    assert requeue_due(r, settings, lead.id) == LeadStatus.CONNECTED.value
    assert r.zscore(keys.DUE, lead.id) is None
