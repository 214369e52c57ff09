-- Claim an inbound CallSid in one step: the caller's pending callback if they have one,
-- else a new intake lead with its history, the day's counter and its first IVR session.
-- Atomic, so a repeated delivery of the same CallSid never makes a second lead.
-- Every key it touches is given: the new lead's id is minted before (routing.leads), and a
-- caller with a pending link is answered 'check' and asked again with that lead's hash.
-- KEYS[1] CallSid -> lead link   KEYS[2] pending links (hash: number digest -> lead id)
-- KEYS[3] leads by time   KEYS[4] the day's counters   KEYS[5] the IVR session hash
-- KEYS[6] leads that may still be in the IVR (by start)   KEYS[7] counselors' numbers
-- KEYS[8] the new lead's hash   KEYS[9] its history
-- KEYS[10] the hash of the lead ARGV[11] names (only when ARGV[11] is not '')
-- ARGV[1] caller's number ('' when withheld: no pending link is read); a counselor's phone
-- is taken as no number (a callback there would ring the counselor, not a caller)
-- ARGV[2] its digest (its field in KEYS[2])   ARGV[3] pending statuses (space separated)
-- ARGV[4] the new lead's id   ARGV[5] link TTL (s)   ARGV[6] now   ARGV[7] counter name
-- ARGV[8] counters TTL (s)   ARGV[9] session TTL (s)   ARGV[10] first history entry (JSON)
-- ARGV[11] the pending lead KEYS[10] is the hash of ('' for none)
-- ARGV[12] n, the new lead's pairs
-- ARGV[13 .. 12+2n] the new lead's field/value pairs, then the session's field/value pairs
-- (its lead_id is added here).
-- Returns {'existing' | 'pending' | 'created', lead id}, {'check', lead id} (the number
-- links to that lead: ask again with its hash) or {'taken', ''} (a lead with the new id
-- exists: ask again with another).
local known = redis.call('GET', KEYS[1])
if known then return {'existing', known} end

local function claim(lead_id)
  redis.call('SET', KEYS[1], lead_id, 'EX', ARGV[5])
  redis.call('HINCRBY', KEYS[4], ARGV[7], 1)
  redis.call('EXPIRE', KEYS[4], ARGV[8])
end

local phone = ARGV[1]
if phone ~= '' and redis.call('HEXISTS', KEYS[7], phone) == 1 then phone = '' end

if phone ~= '' then
  local pending_id = redis.call('HGET', KEYS[2], ARGV[2])
  if pending_id then
    if pending_id ~= ARGV[11] then return {'check', pending_id} end
    -- The link is only a hint: the lead must still hold this number and be owed a callback.
    local lead = redis.call('HMGET', KEYS[10], 'phone', 'status')
    if lead[1] == ARGV[1] and one_of(lead[2], ARGV[3]) then
      claim(pending_id)
      return {'pending', pending_id}
    end
  end
end

local lead_id = ARGV[4]
if redis.call('EXISTS', KEYS[8]) == 1 then return {'taken', ''} end
claim(lead_id)
local last = 12 + 2 * tonumber(ARGV[12])
redis.call('HSET', KEYS[8], unpack(ARGV, 13, last))
redis.call('HSET', KEYS[8], 'id', lead_id, 'phone', phone)
redis.call('ZADD', KEYS[3], ARGV[6], lead_id)
redis.call('ZADD', KEYS[6], ARGV[6], lead_id)
redis.call('RPUSH', KEYS[9], ARGV[10])
redis.call('HSET', KEYS[5], 'lead_id', lead_id, unpack(ARGV, last + 1, #ARGV))
if phone == '' then redis.call('HSET', KEYS[5], 'digest', '') end
redis.call('EXPIRE', KEYS[5], ARGV[9])
return {'created', lead_id}
