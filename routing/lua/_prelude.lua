-- Shared by every script: routing/scripts.py puts this in front of each one it loads.

-- Whether value is one of the words of a space-separated list (statuses passed in ARGV).
local function one_of(value, list)
  for word in string.gmatch(list, '%S+') do
    if word == value then return true end
  end
  return false
end
