-- One decision on a submitted code (see EphemeralStore.record_attempt).
-- KEYS[1]  the transaction hash
-- KEYS[2]  the user's wrong-code counter
-- KEYS[3]  the user's lockout flag
-- KEYS[4]  the replay mark (any key of the same slot when there is none)
-- ARGV[1]  '1' when the code is right
-- ARGV[2]  wrong codes before the transaction dies
-- ARGV[3]  wrong codes before the user is locked out
-- ARGV[4]  lockout window, seconds (also the window of the user's counter)
-- ARGV[5]  '1' when a replay mark is to be checked
-- ARGV[6]  the code's time step
-- ARGV[7]  lifetime of the replay mark, seconds
-- ARGV[8..] field, value pairs applied to the transaction on success
-- Returns accepted, invalid, replay, locked, killed or gone.
local tx, fail, lock, mark = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ok = ARGV[1] == '1'
local per_tx = tonumber(ARGV[2])
local per_user = tonumber(ARGV[3])
local lockout = tonumber(ARGV[4])
local check_replay = ARGV[5] == '1'

if redis.call('HGET', tx, 'state') ~= 'pending' then
  return 'gone'
end
if redis.call('EXISTS', lock) == 1 then
  return 'locked'
end

local replayed = false
if ok and check_replay then
  local last = redis.call('GET', mark)
  replayed = last ~= false and tonumber(last) >= tonumber(ARGV[6])
end

if ok and not replayed then
  if check_replay then
    redis.call('SET', mark, ARGV[6], 'EX', ARGV[7])
  end
  if #ARGV > 7 then
    redis.call('HSET', tx, unpack(ARGV, 8))
  end
  redis.call('DEL', fail)
  return 'accepted'
end

-- A wrong code, or a replayed one: both count.
local attempts = redis.call('HINCRBY', tx, 'attempts', 1)
local fails = redis.call('INCR', fail)
if fails == 1 then
  redis.call('EXPIRE', fail, lockout) -- fixed window, opened by the first failure
end
if fails >= per_user then
  redis.call('SET', lock, '1', 'EX', lockout)
  redis.call('DEL', fail)
end
if attempts >= per_tx then
  redis.call('DEL', tx)
  return 'killed'
end
if replayed then
  return 'replay'
end
return 'invalid'
