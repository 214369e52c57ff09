-- Track whether a counselor's phone is still on our call (their "leg"), so matching never
-- rings a phone whose previous call has not hung up yet.
-- KEYS[1] counselor hash   ARGV[1] reservation id   ARGV[2] "open" | "cap" | "close"
-- ARGV[3] time: open -> busy until then; cap -> busy at most until then; close -> unused
local leg = redis.call('HGET', KEYS[1], 'leg')
if ARGV[2] == 'open' then
  redis.call('HSET', KEYS[1], 'leg', ARGV[1], 'leg_until', ARGV[3])
  return 1
end
if leg ~= ARGV[1] then return 0 end
if ARGV[2] == 'close' then
  redis.call('HSET', KEYS[1], 'leg_until', '0')
  return 1
end
local busy = tonumber(redis.call('HGET', KEYS[1], 'leg_until') or '0')
if busy > tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'leg_until', ARGV[3])
end
return 1
