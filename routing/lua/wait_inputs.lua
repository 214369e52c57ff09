-- What the wait estimate needs, in one round trip: recent handle times, and how many
-- counselors are working (not offline) and of those free to take a callback now.
-- KEYS[1] recent handle times (list)   KEYS[2] every counselor id (set)
-- ARGV[1] counselor hash key prefix (keys.COUNSELOR without the id)
-- ARGV[2] free statuses   ARGV[3] statuses of counselors not working (both space separated)
-- Returns {working, free, handle time...}. Reads each counselor's status here, in Redis,
-- rather than sending them all to the caller.
local free_status, off_duty = {}, {}
for s in string.gmatch(ARGV[2], '%S+') do free_status[s] = true end
for s in string.gmatch(ARGV[3], '%S+') do off_duty[s] = true end
local working, free = 0, 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local status = redis.call('HGET', ARGV[1] .. id, 'status')
  if status and not off_duty[status] then
    working = working + 1
    if free_status[status] then free = free + 1 end
  end
end
local out = {working, free}
for _, t in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do out[#out + 1] = t end
return out
