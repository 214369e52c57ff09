-- End a reservation and move its lead and its counselor with it, in one atomic step, so a
-- process dying half-way can never leave the three records disagreeing.
-- Nothing is done unless the reservation is in one of the allowed states (compare-and-set);
-- the lead moves only while it is still reserved by this reservation, the counselor only
-- while they still hold it (a late or repeated event never moves someone else's record).
-- KEYS[1] reservation hash   KEYS[2] leases   KEYS[3] lead hash   KEYS[4] its waiting bucket
-- KEYS[5] waiting (all)   KEYS[6] due   KEYS[7] lead history   KEYS[8] lead attempts
-- KEYS[9] counselor hash   KEYS[10] wrap-ups   KEYS[11] metrics counters
-- KEYS[12] every counselor's status (mirror)   KEYS[13..] every idle set
-- ARGV[1] allowed reservation states (space separated)   ARGV[2] final state   ARGV[3] now
-- ARGV[4] outcome (the reservation's outcome field)
-- ARGV[5] lead move: 'queue' (back in line at ARGV[7]), 'due' (due at ARGV[7]), 'none'
--         (off every list), 'keep' (the lead is not touched)
-- ARGV[6] lead status   ARGV[7] score or due time   ARGV[8] lead fields (JSON object)
-- ARGV[9] lead history entry ('' for none)   ARGV[10] attempt entry ('' for none)
-- ARGV[11] reserved lead status   ARGV[12] counselor statuses that may hold a reservation
-- ARGV[13] counselor status ('' leaves the counselor alone)   ARGV[14] counselor fields (JSON)
-- ARGV[15] idle sets to join (1-based indexes into KEYS[13..], space separated)
-- ARGV[16] idle-since score   ARGV[17] wrap-up end ('' for none)
-- ARGV[18] leg: 'cap' (busy at most until ARGV[19]), 'close', or 'hold' (busy until
-- ARGV[19] whatever it was: a call may have been placed that we never heard of)
-- ARGV[20] the metrics counter of this ending (counted once: only the move that ends it)
-- Returns {previous state, lead moved (0/1), counselor moved (0/1)} or false.
local state = current_if(KEYS[1], 'state', ARGV[1], '')
if not state then return false end
local rid = redis.call('HGET', KEYS[1], 'id')
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updated_at', ARGV[3], 'outcome', ARGV[4])
redis.call('ZREM', KEYS[2], rid)
redis.call('HINCRBY', KEYS[11], ARGV[20], 1)

local function set_fields(key, json)
  for field, value in pairs(cjson.decode(json)) do
    redis.call('HSET', key, field, tostring(value))
  end
end

local lead_moved = 0
if ARGV[5] ~= 'keep' then
  local lead = redis.call('HMGET', KEYS[3], 'id', 'status', 'reservation')
  if lead[1] and lead[2] == ARGV[11] and lead[3] == rid then
    local id = lead[1]
    redis.call('HSET', KEYS[3], 'status', ARGV[6], 'updated_at', ARGV[3], 'reservation', '')
    set_fields(KEYS[3], ARGV[8])
    if ARGV[5] == 'queue' then
      redis.call('ZADD', KEYS[4], tonumber(ARGV[7]), id)
      redis.call('ZADD', KEYS[5], tonumber(ARGV[7]), id)
      redis.call('ZREM', KEYS[6], id)
      redis.call('HSET', KEYS[3], 'queued_at', ARGV[3])
    elseif ARGV[5] == 'due' then
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZREM', KEYS[5], id)
      redis.call('ZADD', KEYS[6], tonumber(ARGV[7]), id)
    else
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZREM', KEYS[5], id)
      redis.call('ZREM', KEYS[6], id)
    end
    if ARGV[9] ~= '' then redis.call('RPUSH', KEYS[7], ARGV[9]) end
    if ARGV[10] ~= '' then redis.call('RPUSH', KEYS[8], ARGV[10]) end
    lead_moved = 1
  end
end

local counselor_moved = 0
local c = redis.call('HMGET', KEYS[9], 'id', 'status', 'reservation', 'leg', 'leg_until')
if c[1] and ARGV[13] ~= '' and c[3] == rid then
  if one_of(c[2], ARGV[12]) then
    set_counselor_status(KEYS[9], KEYS[12], c[1], ARGV[13], ARGV[3])
    redis.call('HSET', KEYS[9], 'reservation', '')
    set_fields(KEYS[9], ARGV[14])
    local join = {}
    for n in string.gmatch(ARGV[15], '%S+') do join[tonumber(n)] = true end
    for k = 13, #KEYS do
      if join[k - 12] then
        redis.call('ZADD', KEYS[k], tonumber(ARGV[16]), c[1])
      else
        redis.call('ZREM', KEYS[k], c[1])
      end
    end
    if ARGV[17] ~= '' then
      redis.call('ZADD', KEYS[10], tonumber(ARGV[17]), c[1])
    else
      redis.call('ZREM', KEYS[10], c[1])
    end
    counselor_moved = 1
  end
end
-- The counselor's phone: free at once if no call was placed, else soon (they may still be
-- hearing a last message); their leg's final status frees it sooner.
if c[1] and ARGV[18] == 'hold' then
  redis.call('HSET', KEYS[9], 'leg', rid, 'leg_until', ARGV[19])
elseif c[1] and c[4] == rid then
  if ARGV[18] == 'close' then
    redis.call('HSET', KEYS[9], 'leg_until', '0')
  elseif tonumber(c[5] or '0') > tonumber(ARGV[19]) then
    redis.call('HSET', KEYS[9], 'leg_until', ARGV[19])
  end
end
return {state, lead_moved, counselor_moved}
