-- Remember the highest SequenceNumber seen for one call leg; 1 if this one is new.
-- An unknown reservation has no news to remember: 0, and nothing is written.
-- KEYS[1] reservation hash   ARGV[1] field   ARGV[2] sequence number
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) <= last then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
