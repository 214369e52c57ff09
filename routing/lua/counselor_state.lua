-- Compare-and-set a counselor's status together with the idle sets and the wrap-up list,
-- so matching never sees a counselor in an idle set who is not free.
-- KEYS[1] counselor hash   KEYS[2] wrap-ups   KEYS[3] every counselor's status (mirror)
-- KEYS[4..] every idle set
-- ARGV[1] allowed current statuses (space separated)   ARGV[2] new status   ARGV[3] now
-- ARGV[4] reservation the counselor must hold ("" for any)
-- ARGV[5] wrap-up end ("" for none)   ARGV[6] indexes (1-based, into KEYS[4..]) of the
-- idle sets to join, space separated ("" to leave them all)   ARGV[7..] field, value pairs
local status = current_if(KEYS[1], 'status', ARGV[1], ARGV[4])
if not status then return false end
local id = redis.call('HGET', KEYS[1], 'id')
set_counselor_status(KEYS[1], KEYS[3], id, ARGV[2], ARGV[3])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local join = {}
for n in string.gmatch(ARGV[6], '%S+') do join[tonumber(n)] = true end
for k = 4, #KEYS do
  if join[k - 3] then
    redis.call('ZADD', KEYS[k], tonumber(ARGV[3]), id)
  else
    redis.call('ZREM', KEYS[k], id)
  end
end
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[5]), id)
else
  redis.call('ZREM', KEYS[2], id)
end
return status
