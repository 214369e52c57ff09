-- What the wait estimate needs, in one round trip (the prelude's wait_inputs).
-- KEYS[1] recent handle times (list)   KEYS[2] every counselor id (set)
-- ARGV[1] counselor hash key prefix (keys.COUNSELOR without the id)
-- ARGV[2] free statuses   ARGV[3] statuses of counselors not working (both space separated)
-- Returns {working, free, handle time...}.
return wait_inputs(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
