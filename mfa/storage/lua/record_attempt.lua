-- One decision on a submitted code (see EphemeralStore.record_attempt).
-- KEYS[1]  the transaction hash
-- KEYS[2]  the user's wrong-code counter
-- KEYS[3]  the user's lockout flag
-- KEYS[4]  the replay mark (any key of the same slot when there is none)
-- KEYS[5]  the tenant's event stream (mfa.events)
-- ARGV[1]  '1' when the code is right
-- ARGV[2]  wrong codes before the transaction dies
-- ARGV[3]  wrong codes before the user is locked out
-- ARGV[4]  lockout window, seconds (also the window of the user's counter)
-- ARGV[5]  '1' when a replay mark is to be checked
-- ARGV[6]  the code's time step
-- ARGV[7]  lifetime of the replay mark, seconds
-- ARGV[8]  n: how many event arguments follow (0: append no event)
-- ARGV[9..8+n] the event: success type, failure type, failure code, event id,
--          time (epoch seconds), then field, value pairs (user, request id …)
-- ARGV[9+n..] field, value pairs applied to the transaction on success
-- Returns accepted, invalid, replay, locked, killed or gone.
-- The event is appended here, in the call that decides, so that the decision and
-- its audit record exist together or not at all: a worker that dies after
-- answering has nothing left to write. (No extra round trip on the hot path.)
local tx, fail, lock, mark = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ok = ARGV[1] == '1'
local per_tx = tonumber(ARGV[2])
local per_user = tonumber(ARGV[3])
local lockout = tonumber(ARGV[4])
local check_replay = ARGV[5] == '1'
local n_event = tonumber(ARGV[8])
local first_change = 9 + n_event

local function event(kind, id, outcome, code, data)
  if n_event == 0 then
    return
  end
  local entry = {'id', id, 'type', kind, 'time', ARGV[13], 'outcome', outcome,
                 'error_code', code, 'data', data}
  for i = 14, 8 + n_event do
    entry[#entry + 1] = ARGV[i]
  end
  redis.call('XADD', KEYS[5], '*', unpack(entry))
end

local function failed(outcome)
  event(ARGV[10], ARGV[12], outcome, ARGV[11], '')
end

if redis.call('HGET', tx, 'state') ~= 'pending' then
  return 'gone'
end
if redis.call('EXISTS', lock) == 1 then
  failed('locked')
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
  if #ARGV >= first_change then
    redis.call('HSET', tx, unpack(ARGV, first_change))
  end
  redis.call('DEL', fail)
  event(ARGV[9], ARGV[12], 'accepted', '', '')
  return 'accepted'
end

-- A wrong code, or a replayed one: both count.
local attempts = redis.call('HINCRBY', tx, 'attempts', 1)
local fails = redis.call('INCR', fail)
if fails == 1 then
  redis.call('EXPIRE', fail, lockout) -- fixed window, opened by the first failure
end
local outcome = 'invalid'
if replayed then
  outcome = 'replay'
end
if attempts >= per_tx then
  outcome = 'killed'
end
failed(outcome)
if fails >= per_user then
  redis.call('SET', lock, '1', 'EX', lockout)
  redis.call('DEL', fail)
  if n_event > 0 then
    local until_ = tonumber(ARGV[13]) + lockout
    event('user.locked', ARGV[12] .. '.lock', 'locked', ARGV[11],
          '{"locked_until":' .. string.format('%.3f', until_) .. '}')
  end
end
if attempts >= per_tx then
  redis.call('DEL', tx)
end
return outcome
