-- Reserve one waiting callback and one free counselor together, under a lease: the second
-- step of matching (routing.matching), given every key it touches. The caller read the
-- bucket and idle-set heads and chose the pair; nothing is written unless, now, the lead is
-- still waiting at the head of its bucket and the counselor still free, past their last
-- call's hang-up, in the idle set they were chosen from (else the caller reads again).
-- Redis runs scripts one at a time, so no counselor gets two callbacks, nor a callback two.
-- KEYS[1] the lead's waiting bucket   KEYS[2] waiting (all)   KEYS[3] the lead hash
-- KEYS[4] the counselor hash   KEYS[5] the new reservation's hash   KEYS[6] leases
-- KEYS[7] dialing paused (routing.account)   KEYS[8] counselors' statuses (hash)
-- KEYS[9] the idle set the counselor was chosen from   KEYS[10..] every idle set
-- ARGV[1] now   ARGV[2] lease (s)   ARGV[3] the reservation id   ARGV[4] lead id
-- ARGV[5] counselor id   ARGV[6] the lead's score   then the names it writes and compares
-- (routing passes its enums' values): ARGV[7] a lead's waiting status, ARGV[8] the
-- reserved status (lead and counselor), ARGV[9] the counselor statuses free to be offered
-- (space separated), ARGV[10] a new reservation's state
-- Returns 'reserved', 'paused' (no offers while dialing is paused) or 'changed'.
if redis.call('EXISTS', KEYS[7]) == 1 then return 'paused' end
if redis.call('EXISTS', KEYS[5]) == 1 then return 'changed' end
local now = tonumber(ARGV[1])
local lead, counselor, rid = ARGV[4], ARGV[5], ARGV[3]
local head = redis.call('ZRANGE', KEYS[1], 0, 0)
if head[1] ~= lead or redis.call('HGET', KEYS[3], 'status') ~= ARGV[7] then
  return 'changed'
end
local c = redis.call('HMGET', KEYS[4], 'status', 'leg_until')
if not (c[1] and one_of(c[1], ARGV[9])) or tonumber(c[2] or '0') > now
    or not redis.call('ZSCORE', KEYS[9], counselor) then
  return 'changed'
end

redis.call('ZREM', KEYS[1], lead)
redis.call('ZREM', KEYS[2], lead)
for k = 10, #KEYS do redis.call('ZREM', KEYS[k], counselor) end
local sec = tostring(now)
redis.call('HSET', KEYS[3], 'status', ARGV[8], 'reservation', rid, 'updated_at', sec)
set_counselor_status(KEYS[4], KEYS[8], counselor, ARGV[8], sec)
redis.call('HSET', KEYS[4], 'reservation', rid)
redis.call('HSET', KEYS[5], 'id', rid, 'lead_id', lead, 'counselor_id', counselor,
  'state', ARGV[10], 'score', ARGV[6], 'created_at', sec, 'updated_at', sec)
redis.call('ZADD', KEYS[6], now + tonumber(ARGV[2]), rid)
return 'reserved'
