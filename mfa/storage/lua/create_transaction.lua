-- Create (or replace) a transaction hash with its expiry, in one step.
-- KEYS[1]  the transaction hash
-- ARGV[1]  expiry, epoch milliseconds (a time in the past deletes it at once)
-- ARGV[2..] field, value pairs
-- One script rather than MULTI/EXEC: the same on one server and on a cluster,
-- and there is never a moment when the key exists without its TTL.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
