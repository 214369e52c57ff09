-- An IVR session and the callback number its lead holds, in one round trip.
-- KEYS[1] the session hash   ARGV[1] lead hash key prefix (keys.LEAD without the id)
-- Returns false when there is no session (or it names no lead), else
-- {session field/value list, the lead's phone ('' for a pending caller, whose menu does not
-- read it: the number is kept only in the lead hash)}.
local session = redis.call('HGETALL', KEYS[1])
local lead_id, pending
for i = 1, #session, 2 do
  if session[i] == 'lead_id' then
    lead_id = session[i + 1]
  elseif session[i] == 'pending' then
    pending = session[i + 1]
  end
end
if not lead_id then return false end
local phone = ''
if pending ~= '1' then
  phone = redis.call('HGET', ARGV[1] .. lead_id, 'phone') or ''
end
return {session, phone}
