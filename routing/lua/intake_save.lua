-- Save an IVR session and, only while its lead is still in intake, the caller's answers
-- (once queued, the lead's bucket depends on them, so a late request must not change them).
-- KEYS[1] the session hash   KEYS[2] the lead hash
-- ARGV[1] session TTL (s)   ARGV[2] the intake status
-- ARGV[3] '1' to return the lead hash as it is after this (a step that ends the IVR acts
-- on it next), '0' to return nothing   ARGV[4] n, the session's pairs
-- ARGV[5 .. 4+2n] session field/value pairs, then the answers' field/value pairs (none for
-- a pending caller).
local last = 4 + 2 * tonumber(ARGV[4])
redis.call('HSET', KEYS[1], unpack(ARGV, 5, last))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if #ARGV > last and redis.call('HGET', KEYS[2], 'status') == ARGV[2] then
  redis.call('HSET', KEYS[2], unpack(ARGV, last + 1, #ARGV))
end
if ARGV[3] == '1' then return redis.call('HGETALL', KEYS[2]) end
return false
