-- What the wait estimate needs, in one round trip (the prelude's wait_inputs).
-- KEYS[1] recent handle times (list)   KEYS[2] every counselor's status (hash)
-- ARGV[1] free statuses   ARGV[2] statuses of counselors not working (both space separated)
-- Returns {working, free, handle time...}.
return wait_inputs(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
