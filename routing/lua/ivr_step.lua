-- One IVR step in one round trip: read the call's session, apply the decision the caller's
-- keys made for the state it is in, write it, and return what the answer needs.
-- The decisions come from Python (routing.ivr.decide), made before the state was known for
-- each combination of the facts they depend on; this script picks the one that applies.
-- Every key it touches is given: the lead is named by the step's URL (and must be the one
-- the session names), its waiting bucket is one of the twelve given.
-- KEYS[1] the session hash   KEYS[2] counselors' numbers (hash)   KEYS[3] waiting (all)
-- KEYS[4] do-not-call set   KEYS[5] the day's counters   KEYS[6] recent handle times
-- KEYS[7] leads that may still be in the IVR   KEYS[8] counselors' statuses (hash)
-- KEYS[9] the lead hash   KEYS[10] its history   KEYS[11] pending links (hash)
-- KEYS[12..23] the waiting buckets (indexes in ARGV[8]'s 'buckets')
-- ARGV[1] the lead's id   ARGV[2] the step the request answers
-- ARGV[3] session TTL (s)   ARGV[4] the intake status   ARGV[5] tries per menu
-- ARGV[6] a keyed number to look for among the counselors' numbers ('' for none)
-- ARGV[7] the decisions (JSON: 'patches', a list of decisions, and 'by', the index of the
--   one for each condition: 'x' last try or '-', 'p' a number so far or '-', then 'c' the
--   keyed number is a counselor's or '-'); a decision has 'session' (fields to
--   set), 'lead' (answers to copy to the lead while it is in intake), 'count' (true: only
--   count a try) and 'read' (true: the IVR ends with a confirmed number: queue the lead and
--   return the lead hash); '' for none (a stale step)
-- ARGV[8] what queueing needs (JSON: the KEYS index of each bucket by 'language
--   insurance', head starts, counters, history entries, the fields a queued lead gets,
--   the statuses of the wait estimate); '' when no decision queues
-- Returns false when there is no session (or it names another lead), else {condition
-- ('stale' when the session is at another step: nothing written), the session as it is
-- now (field/value list), the lead's phone ('' for a pending caller: their menu does not
-- read it), the lead hash when asked, its place in line if it was queued now (else 0), and
-- then the wait estimate's inputs}.
local session = redis.call('HGETALL', KEYS[1])
local s = {}
for i = 1, #session, 2 do s[session[i]] = session[i + 1] end
if s.lead_id ~= ARGV[1] then return false end
local lead = KEYS[9]
local phone = ''
if s.pending ~= '1' then phone = redis.call('HGET', lead, 'phone') or '' end
if s.step ~= ARGV[2] or ARGV[7] == '' then return {'stale', session, phone, false} end

local condition = (tonumber(s.tries or '0') + 1 >= tonumber(ARGV[5]) and 'x' or '-')
  .. (phone ~= '' and 'p' or '-')
local theirs = ARGV[6] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[6]) == 1
condition = condition .. (theirs and 'c' or '-')
local decisions = cjson.decode(ARGV[7])
local decision = decisions.patches[decisions.by[condition]]

if decision.count then
  redis.call('HINCRBY', KEYS[1], 'tries', 1)
else
  local set = {}
  for field, value in pairs(decision.session) do
    set[#set + 1] = field
    set[#set + 1] = value
  end
  if #set > 0 then redis.call('HSET', KEYS[1], unpack(set)) end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
local answers = {}
for field, value in pairs(decision.lead) do
  answers[#answers + 1] = field
  answers[#answers + 1] = value
end
if #answers > 0 and redis.call('HGET', lead, 'status') == ARGV[4] then
  redis.call('HSET', lead, unpack(answers))
end
-- The menu after reads the number as the caller now gave it (even if a late request no
-- longer changes the lead).
if decision.lead.phone ~= nil then phone = decision.lead.phone end

-- The caller confirmed their number: queue the lead now, if it is still in intake with a
-- number (else, read it back: routing.intake decides what the caller hears).
local place, waits = 0, false
if decision.read and ARGV[8] ~= '' and (s.digest or '') ~= '' then
  local q = cjson.decode(ARGV[8])
  local flat = redis.call('HGETALL', lead)
  local l = {}
  for i = 1, #flat, 2 do l[flat[i]] = flat[i + 1] end
  local bucket = q.buckets[(l.language or '') .. ' ' .. (l.insurance or '')]
  if l.status == ARGV[4] and (l.phone or '') ~= '' and l.first_call_at and bucket then
    -- The fixed score of routing.leads.Lead.queue_score: earlier is served first.
    local head_start = 0
    if l.urgent == '1' then head_start = head_start + q.urgent_head_start end
    if l.situation == 'self' then head_start = head_start + q.self_head_start end
    local score = string.format('%.17g', tonumber(l.first_call_at) - head_start)
    local k = {
      lead = lead,
      bucket = KEYS[bucket],
      all = KEYS[3],
      pending = KEYS[11],
      events = KEYS[10],
      dnc = KEYS[4],
      day = KEYS[5],
      intake = KEYS[7],
    }
    place = queue_lead(k, {
      score = score, id = s.lead_id, link = s.digest,
      counters_ttl = q.counters_ttl, counters = q.counters, dnc = s.digest, entry = q.entry,
      lifted = q.lifted, fields = q.fields,
    })
    waits = wait_inputs(KEYS[6], KEYS[8], q.free, q.off)
    redis.call('HDEL', KEYS[1], 'digest')  -- needed only to queue the lead
  end
end
local read = false
if decision.read then read = redis.call('HGETALL', lead) end
return {condition, redis.call('HGETALL', KEYS[1]), phone, read, place, waits}
