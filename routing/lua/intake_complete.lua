-- Queue an intake lead, once, in one atomic step (the prelude's queue_lead) at its fixed
-- score (as routing.queue.add_waiting); for a caller who hung up in the IVR (a caller who
-- confirms a number is queued by ivr_step.lua).
-- Nothing is done unless the lead is exactly as the caller read it (a compare-and-set, like
-- WATCH): the caller checked its status and computed the score and keys from it.
-- KEYS[1] lead hash   KEYS[2] its waiting bucket   KEYS[3] waiting (all)
-- KEYS[4] pending links (hash)   KEYS[5] its history   KEYS[6] do-not-call set
-- KEYS[7] the day's counters   KEYS[8] leads that may still be in the IVR
-- ARGV[1] queue score   ARGV[2] lead id   ARGV[3] its number's digest (its pending link)
-- ARGV[4] counters TTL (s)   ARGV[5] counters to add one to (space separated)
-- ARGV[6] do-not-call digest to lift ('' to leave the list alone)
-- ARGV[7] history entry 'waiting'   ARGV[8] history entry if the digest was lifted
-- ARGV[9] n, the pairs read   ARGV[10 .. 9+2n] the lead's field/value pairs as read
-- then the field/value pairs to set.
-- Returns its place in line (1-based) when queued, 0 when the lead changed since it was
-- read (read it again).
local last = 9 + 2 * tonumber(ARGV[9])
local now = redis.call('HGETALL', KEYS[1])
if #now ~= last - 9 then return 0 end
local current = {}
for i = 1, #now, 2 do current[now[i]] = now[i + 1] end
for i = 10, last, 2 do
  if current[ARGV[i]] ~= ARGV[i + 1] then return 0 end
end

local fields = {}
for i = last + 1, #ARGV do fields[#fields + 1] = ARGV[i] end
return queue_lead(
  {lead = KEYS[1], bucket = KEYS[2], all = KEYS[3], pending = KEYS[4], events = KEYS[5],
   dnc = KEYS[6], day = KEYS[7], intake = KEYS[8]},
  {score = ARGV[1], id = ARGV[2], link = ARGV[3], counters_ttl = ARGV[4],
   counters = ARGV[5], dnc = ARGV[6], entry = ARGV[7], lifted = ARGV[8], fields = fields})
