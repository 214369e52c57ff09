-- Compare-and-set a reservation's state, so each transition happens exactly once however
-- many webhooks, jobs and sweeps race for it.
-- KEYS[1] reservation hash   KEYS[2] leases
-- ARGV[1] allowed current states (space separated)   ARGV[2] new state   ARGV[3] now
-- ARGV[4] lease: "" drop it, "-" keep it, a number: the new expiry
-- ARGV[5..] field, value pairs to set as well
local state = current_if(KEYS[1], 'state', ARGV[1], '')
if not state then return false end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updated_at', ARGV[3])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local id = redis.call('HGET', KEYS[1], 'id')
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[2], id)
elseif ARGV[4] ~= '-' then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), id)
end
return state
