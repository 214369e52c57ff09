-- Compare-and-set a lead's status together with its place in line or on the due list.
-- KEYS[1] lead hash   KEYS[2] its waiting bucket   KEYS[3] waiting (all)   KEYS[4] due
-- ARGV[1] allowed current statuses (space separated)   ARGV[2] new status   ARGV[3] now
-- ARGV[4] "queue" (back in line at score ARGV[5]), "due" (due at ARGV[5]) or "none"
-- ARGV[6] reservation the lead must be held by ("" for any)
-- ARGV[7..] field, value pairs to set as well
local status = current_if(KEYS[1], 'status', ARGV[1], ARGV[6])
if not status then return false end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated_at', ARGV[3])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local id = redis.call('HGET', KEYS[1], 'id')
if ARGV[4] == 'queue' then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[5]), id)
  redis.call('ZADD', KEYS[3], tonumber(ARGV[5]), id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('HSET', KEYS[1], 'queued_at', ARGV[3], 'reservation', '')
elseif ARGV[4] == 'due' then
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], tonumber(ARGV[5]), id)
  redis.call('HSET', KEYS[1], 'reservation', '')
else
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
end
return status
