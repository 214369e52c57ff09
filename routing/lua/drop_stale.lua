-- Take a member out of sorted sets it no longer belongs in: a lead no longer waiting out of
-- its bucket, a counselor no longer free out of an idle set (matching found it at a head).
-- Checked here, so a member that became right again meanwhile stays.
-- KEYS[1] the member's hash   KEYS[2..] the sorted sets
-- ARGV[1] the member   ARGV[2] the field to check   ARGV[3] the values that keep it
-- (space separated)
-- Returns how many sets it left.
if one_of(redis.call('HGET', KEYS[1], ARGV[2]) or '', ARGV[3]) then return 0 end
local left = 0
for k = 2, #KEYS do left = left + redis.call('ZREM', KEYS[k], ARGV[1]) end
return left
