-- Shared by every script: routing/scripts.py puts this in front of each one it loads.

-- Whether value is one of the words of a space-separated list (statuses passed in ARGV).
local function one_of(value, list)
  for word in string.gmatch(list, '%S+') do
    if word == value then return true end
  end
  return false
end

-- A record's field if its value is one of allowed and, unless holding is '', the record
-- holds that reservation; else nil (the compare of a compare-and-set).
local function current_if(key, field, allowed, holding)
  local value = redis.call('HGET', key, field)
  if not value or not one_of(value, allowed) then return nil end
  if holding ~= '' and redis.call('HGET', key, 'reservation') ~= holding then return nil end
  return value
end

-- Queue an intake lead (routing.ivr_outcomes): its new fields, its place in line, the
-- pending link of its number, its history, lifting a do-not-call entry (a caller who once
-- asked not to be called confirmed a callback), the day's counters, and out of the list of
-- leads that may still be in the IVR. k: the keys lead, bucket, all, pending (the links
-- hash), events, dnc, day, intake; a: score, id, link (its number's digest), counters_ttl,
-- counters (space separated), dnc (digest to lift, '' for none), entry, lifted (history
-- entries), fields (field/value list). Returns its place in line (1-based).
local function queue_lead(k, a)
  redis.call('HSET', k.lead, unpack(a.fields))
  redis.call('ZADD', k.bucket, a.score, a.id)
  redis.call('ZADD', k.all, a.score, a.id)
  redis.call('HSET', k.pending, a.link, a.id)
  redis.call('RPUSH', k.events, a.entry)
  if a.dnc ~= '' and redis.call('SREM', k.dnc, a.dnc) == 1 then
    redis.call('RPUSH', k.events, a.lifted)
  end
  for counter in string.gmatch(a.counters, '%S+') do
    redis.call('HINCRBY', k.day, counter, 1)
  end
  redis.call('EXPIRE', k.day, a.counters_ttl)
  redis.call('ZREM', k.intake, a.id)
  return redis.call('ZRANK', k.all, a.id) + 1
end

-- Set a counselor's status, in their hash and in the mirror of every counselor's status
-- (keys.COUNSELOR_STATES), which the wait estimate reads: every script that sets a
-- counselor's status goes through here.
local function set_counselor_status(key, states, id, status, now)
  redis.call('HSET', key, 'status', status, 'updated_at', now)
  redis.call('HSET', states, id, status)
end

-- What the wait estimate needs (routing.queue.estimate_wait_seconds): how many counselors
-- are working (not off duty) and of those free now, then the recent handle times. Counts
-- the statuses here rather than sending them all to the caller.
local function wait_inputs(handle_times, states, free_list, off_list)
  local free_status, off_duty = {}, {}
  for s in string.gmatch(free_list, '%S+') do free_status[s] = true end
  for s in string.gmatch(off_list, '%S+') do off_duty[s] = true end
  local working, free = 0, 0
  for _, status in ipairs(redis.call('HVALS', states)) do
    if not off_duty[status] then
      working = working + 1
      if free_status[status] then free = free + 1 end
    end
  end
  local out = {working, free}
  for _, t in ipairs(redis.call('LRANGE', handle_times, 0, -1)) do out[#out + 1] = t end
  return out
end
