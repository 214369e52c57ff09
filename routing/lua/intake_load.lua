-- An IVR session and the callback number its lead holds, in one round trip.
-- KEYS[1] the session hash   KEYS[2] the hash of the lead the call is linked to
-- ARGV[1] that lead's id
-- Returns false when there is no session or it names another lead, else
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
if lead_id ~= ARGV[1] then return false end
local phone = ''
if pending ~= '1' then phone = redis.call('HGET', KEYS[2], 'phone') or '' end
return {session, phone}
