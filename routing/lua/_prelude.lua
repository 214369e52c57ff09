-- Shared by every script: routing/scripts.py puts this in front of each one it loads.

-- Whether value is one of the words of a space-separated list (statuses passed in ARGV).
local function one_of(value, list)
  for word in string.gmatch(list, '%S+') do
    if word == value then return true end
  end
  return false
end

-- A record's field if its value is one of allowed and, unless holding is '', the record
-- holds that reservation; else nil (the compare of a compare-and-set).
local function current_if(key, field, allowed, holding)
  local value = redis.call('HGET', key, field)
  if not value or not one_of(value, allowed) then return nil end
  if holding ~= '' and redis.call('HGET', key, 'reservation') ~= holding then return nil end
  return value
end
