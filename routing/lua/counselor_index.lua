-- Rebuild the counselor indexes from the active counselors' own records, atomically:
-- number -> id (keys.COUNSELOR_PHONES) and id -> status (keys.COUNSELOR_STATES).
-- KEYS[1] active counselors (set of ids)   KEYS[2] the number index   KEYS[3] the status
-- index   KEYS[4..] each active counselor's hash, in the order of ARGV
-- ARGV: the active counselors' ids, as the caller read them
-- Returns how many were indexed, or false when the active set is no longer what the caller
-- read (read it again).
if redis.call('SCARD', KEYS[1]) ~= #ARGV then return false end
for i = 1, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then return false end
end
redis.call('DEL', KEYS[2], KEYS[3])
for i = 1, #ARGV do
  local c = redis.call('HMGET', KEYS[3 + i], 'phone', 'status')
  if c[1] and c[1] ~= '' then redis.call('HSET', KEYS[2], c[1], ARGV[i]) end
  if c[2] then redis.call('HSET', KEYS[3], ARGV[i], c[2]) end
end
return #ARGV
