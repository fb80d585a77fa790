-- Change fields of a transaction hash, keeping its TTL.
-- KEYS[1]  the transaction hash
-- ARGV[1]  '1': only while the transaction is pending
-- ARGV[2..] field, value pairs to set (state, enrollment, token, d:<data key>)
-- Returns 1 when changed, 0 when the transaction is gone (or not pending).
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return 0
end
if ARGV[1] == '1' and state ~= 'pending' then
  return 0
end
if #ARGV > 1 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2))
end
return 1
