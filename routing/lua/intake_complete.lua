-- Queue an intake lead, once, in one atomic step: its new fields (status waiting), its place
-- in line at its fixed score (as routing.queue.add_waiting), the pending link of its
-- number, its history, lifting a do-not-call entry, and the day's counters.
-- Nothing is done unless the lead is exactly as the caller read it (a compare-and-set, like
-- WATCH): the caller checked its status and computed the score and keys from it.
-- KEYS[1] lead hash   KEYS[2] its waiting bucket   KEYS[3] waiting (all)
-- KEYS[4] pending link of its number   KEYS[5] its history   KEYS[6] do-not-call set
-- KEYS[7] the day's counters
-- ARGV[1] queue score   ARGV[2] lead id   ARGV[3] pending link TTL (s)
-- ARGV[4] counters TTL (s)   ARGV[5] counters to add one to (space separated)
-- ARGV[6] do-not-call digest to lift ('' to leave the list alone)
-- ARGV[7] history entry 'waiting'   ARGV[8] history entry if the digest was lifted
-- ARGV[9] n, the pairs read   ARGV[10 .. 9+2n] the lead's field/value pairs as read
-- then the field/value pairs to set.
-- Returns its place in line (1-based) when queued, 0 when the lead changed since it was
-- read (read it again).
local last = 9 + 2 * tonumber(ARGV[9])
local now = redis.call('HGETALL', KEYS[1])
if #now ~= last - 9 then return 0 end
local current = {}
for i = 1, #now, 2 do current[now[i]] = now[i + 1] end
for i = 10, last, 2 do
  if current[ARGV[i]] ~= ARGV[i + 1] then return 0 end
end

redis.call('HSET', KEYS[1], unpack(ARGV, last + 1, #ARGV))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[2])
redis.call('SET', KEYS[4], ARGV[2], 'EX', ARGV[3])
redis.call('RPUSH', KEYS[5], ARGV[7])
-- A caller once asked not to be called, then called and confirmed a callback.
if ARGV[6] ~= '' and redis.call('SREM', KEYS[6], ARGV[6]) == 1 then
  redis.call('RPUSH', KEYS[5], ARGV[8])
end
for counter in string.gmatch(ARGV[5], '%S+') do
  redis.call('HINCRBY', KEYS[7], counter, 1)
end
redis.call('EXPIRE', KEYS[7], ARGV[4])
return redis.call('ZRANK', KEYS[3], ARGV[2]) + 1
