-- Reserve the next outbound-call slot (calls-per-second pacing shared by every worker).
-- KEYS[1] next free slot   ARGV[1] now   ARGV[2] seconds between calls
-- Returns the seconds to wait before placing the call (a string, to keep the fraction).
local now = tonumber(ARGV[1])
local gap = tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
redis.call('SET', KEYS[1], tostring(slot + gap), 'PX', math.ceil((slot + gap - now) * 1000) + 1000)
return tostring(slot - now)
