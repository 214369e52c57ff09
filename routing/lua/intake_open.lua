-- Claim an inbound CallSid in one step: the caller's pending callback if they have one,
-- else a new intake lead with its history, the day's counter and its first IVR session.
-- Atomic, so a repeated delivery of the same CallSid never makes a second lead.
-- KEYS[1] CallSid -> lead link   KEYS[2] pending link of the caller's number
-- KEYS[3] lead id counter   KEYS[4] leads by time   KEYS[5] the day's counters
-- KEYS[6] the IVR session hash   KEYS[7] leads that may still be in the IVR (by start)
-- KEYS[8] active counselors (set of ids)
-- ARGV[1] caller's number ('' when withheld: KEYS[2] is not read); a counselor's phone is
-- taken as no number (a callback there would ring the counselor, not a caller)
-- ARGV[2] pending statuses (space separated)   ARGV[3] lead hash key prefix
-- ARGV[4], ARGV[5] lead history key before and after the id   ARGV[6] link TTL (s)
-- ARGV[7] now   ARGV[8] counter name   ARGV[9] counters TTL (s)   ARGV[10] session TTL (s)
-- ARGV[11] first history entry (JSON)   ARGV[12] counselor hash key prefix
-- ARGV[13] n, the new lead's pairs
-- ARGV[14 .. 13+2n] the new lead's field/value pairs (its id is minted here), then the
-- session's field/value pairs (its lead_id is added here).
-- Returns {'existing' | 'pending' | 'created', lead id}.
local known = redis.call('GET', KEYS[1])
if known then return {'existing', known} end

local function claim(lead_id)
  redis.call('SET', KEYS[1], lead_id, 'EX', ARGV[6])
  redis.call('HINCRBY', KEYS[5], ARGV[8], 1)
  redis.call('EXPIRE', KEYS[5], ARGV[9])
end

local phone = ARGV[1]
if phone ~= '' then
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[8])) do
    if redis.call('HGET', ARGV[12] .. id, 'phone') == phone then
      phone = ''
      break
    end
  end
end

if phone ~= '' then
  local pending_id = redis.call('GET', KEYS[2])
  if pending_id then
    -- The link is only a hint: the lead must still hold this number and be owed a callback.
    local lead = redis.call('HMGET', ARGV[3] .. pending_id, 'phone', 'status')
    if lead[1] == ARGV[1] and one_of(lead[2], ARGV[2]) then
      claim(pending_id)
      return {'pending', pending_id}
    end
  end
end

-- A short, opaque, unique id: L and six digits or more.
local lead_id = string.format('L%06d', redis.call('INCR', KEYS[3]))
claim(lead_id)
local last = 13 + 2 * tonumber(ARGV[13])
local lead_key = ARGV[3] .. lead_id
redis.call('HSET', lead_key, unpack(ARGV, 14, last))
redis.call('HSET', lead_key, 'id', lead_id, 'phone', phone)
redis.call('ZADD', KEYS[4], ARGV[7], lead_id)
redis.call('ZADD', KEYS[7], ARGV[7], lead_id)
redis.call('RPUSH', ARGV[4] .. lead_id .. ARGV[5], ARGV[11])
redis.call('HSET', KEYS[6], 'lead_id', lead_id, unpack(ARGV, last + 1, #ARGV))
if phone == '' then redis.call('HSET', KEYS[6], 'digest', '') end
redis.call('EXPIRE', KEYS[6], ARGV[10])
return {'created', lead_id}
