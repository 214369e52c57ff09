-- Save an IVR session and, only while its lead is still in intake, the caller's answers
-- (once queued, the lead's bucket depends on them, so a late request must not change them).
-- KEYS[1] the session hash   KEYS[2] the lead hash
-- ARGV[1] session TTL (s)   ARGV[2] the intake status   ARGV[3] n, the session's pairs
-- ARGV[4 .. 3+2n] session field/value pairs, then the answers' field/value pairs (none for
-- a pending caller).
local last = 3 + 2 * tonumber(ARGV[3])
redis.call('HSET', KEYS[1], unpack(ARGV, 4, last))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if #ARGV > last and redis.call('HGET', KEYS[2], 'status') == ARGV[2] then
  redis.call('HSET', KEYS[2], unpack(ARGV, last + 1, #ARGV))
end
