-- Atomic matching: pair the best waiting callbacks with the longest-idle eligible counselors.
-- Looks only at the 12 bucket heads and the idle-set heads, so each assignment is O(log n).
-- KEYS[1..12]  waiting bucket per (language, insurance), languages outer, insurance inner
-- KEYS[13..24] idle set per (language, insurance), same order
-- KEYS[25..26] idle "any" set per language (en, es)
-- KEYS[27] waiting (all)   KEYS[28] leases   KEYS[29] reservation id counter
-- KEYS[30] dialing paused (routing.account: no offers while it exists)
-- ARGV: now, widen_after, lease_seconds, max assignments, lead key prefix,
--       counselor key prefix, reservation key prefix, insurance values per language,
--       then the names it writes and compares (routing passes its enums' values): a lead's
--       waiting status, the reserved status (lead and counselor), the counselor statuses
--       free to be offered (space separated), a new reservation's state
local now = tonumber(ARGV[1])
local widen_after = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local max_assign = tonumber(ARGV[4])
local lead_prefix, counselor_prefix, res_prefix = ARGV[5], ARGV[6], ARGV[7]
local per_lang = tonumber(ARGV[8])
local WAITING, RESERVED, FREE, OFFERED = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
if redis.call('EXISTS', KEYS[30]) == 1 then return {} end

-- The head of a waiting bucket whose lead is really waiting (stale members are dropped).
local function lead_head(key)
  while true do
    local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if #head == 0 then return nil end
    if redis.call('HGET', lead_prefix .. head[1], 'status') == WAITING then
      return head[1], tonumber(head[2])
    end
    redis.call('ZREM', key, head[1])
    redis.call('ZREM', KEYS[27], head[1])
  end
end

-- The longest-idle counselor of an idle set who is really free (stale members dropped).
-- One whose phone is still hanging up from our last call (leg_until) is passed over, not
-- dropped; there are at most as many of those as counselors, never as many as callers.
local function counselor_head(key)
  local rank = 0
  while true do
    local head = redis.call('ZRANGE', key, rank, rank)
    if #head == 0 then return nil end
    local c = redis.call('HMGET', counselor_prefix .. head[1], 'status', 'leg_until')
    if c[1] and one_of(c[1], FREE) then
      if tonumber(c[2] or '0') <= now then return head[1] end
      rank = rank + 1
    else
      redis.call('ZREM', key, head[1])
    end
  end
end

local made = {}
for _ = 1, max_assign do
  local best_lead, best_score, best_counselor, best_bucket = nil, nil, nil, nil
  for i = 1, 12 do
    local lead_id, score = lead_head(KEYS[i])
    if lead_id and (best_score == nil or score < best_score) then
      local c = counselor_head(KEYS[12 + i])
      if c == nil then
        -- No one serves this insurance: after WIDEN_AFTER_SECONDS any counselor may.
        local queued = tonumber(redis.call('HGET', lead_prefix .. lead_id, 'queued_at')
          or redis.call('HGET', lead_prefix .. lead_id, 'first_call_at') or now)
        if now - queued >= widen_after then
          c = counselor_head(KEYS[24 + math.floor((i - 1) / per_lang) + 1])
        end
      end
      if c then
        best_lead, best_score, best_counselor, best_bucket = lead_id, score, c, i
      end
    end
  end
  if best_lead == nil then break end

  local rid = 'R' .. string.format('%06d', redis.call('INCR', KEYS[29]))
  redis.call('ZREM', KEYS[best_bucket], best_lead)
  redis.call('ZREM', KEYS[27], best_lead)
  for k = 13, 26 do redis.call('ZREM', KEYS[k], best_counselor) end
  local sec = tostring(now)
  redis.call('HSET', lead_prefix .. best_lead, 'status', RESERVED, 'reservation', rid,
    'updated_at', sec)
  redis.call('HSET', counselor_prefix .. best_counselor, 'status', RESERVED,
    'reservation', rid, 'updated_at', sec)
  redis.call('HSET', res_prefix .. rid, 'id', rid, 'lead_id', best_lead,
    'counselor_id', best_counselor, 'state', OFFERED, 'score', tostring(best_score),
    'created_at', sec, 'updated_at', sec)
  redis.call('ZADD', KEYS[28], now + lease, rid)
  made[#made + 1] = rid
end
return made
