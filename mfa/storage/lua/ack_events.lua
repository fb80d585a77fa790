-- Acknowledge and delete stream entries that are now in the durable store.
-- KEYS[1]  the tenant's event stream
-- ARGV[1]  the consumer group; ARGV[2..] the entry ids
-- One script, so an entry is never left acknowledged but undeleted.
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
