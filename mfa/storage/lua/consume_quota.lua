-- One send: consume one unit from the user's and the tenant's counter, or from
-- neither. Fixed windows: a counter's window opens with its first unit.
-- KEYS[1]  the user's counter        ARGV[1], ARGV[2]  its limit and window (s)
-- KEYS[2]  the tenant's counter      ARGV[3], ARGV[4]  its limit and window (s)
-- KEYS[3]  the tenant's event stream (mfa.events)
-- ARGV[5]  n: how many event arguments follow (0: append no event)
-- ARGV[6..5+n] the refusal's event: the error code when the user's quota refuses,
--          the one when the tenant's does, then the entry's other field, value
--          pairs (id, type, time, user, outcome, request id …)
-- Returns {1, '', 0} when granted, else {0, 'user' | 'tenant', retry_after seconds}.
-- The user is checked first: when both are exhausted, the user quota is named.
-- A refusal's event is appended here, in the call that decides (see
-- record_attempt.lua): no refusal without its audit record, and no extra round trip.
local function retry_after(key, window)
  local pttl = redis.call('PTTL', key)
  if pttl < 0 then -- no counter (a zero limit) or, defensively, no TTL
    return window
  end
  return math.max(1, math.ceil(pttl / 1000))
end

local function take(key, window)
  redis.call('INCR', key)
  if redis.call('PTTL', key) < 0 then
    redis.call('EXPIRE', key, window)
  end
end

local n_event = tonumber(ARGV[5])

local function refuse(who, code, key, window)
  if n_event > 0 then
    redis.call('XADD', KEYS[3], '*', 'error_code', code, unpack(ARGV, 8, 5 + n_event))
  end
  return {0, who, retry_after(key, window)}
end

local user_limit, user_window = tonumber(ARGV[1]), tonumber(ARGV[2])
local tenant_limit, tenant_window = tonumber(ARGV[3]), tonumber(ARGV[4])

if tonumber(redis.call('GET', KEYS[1]) or '0') >= user_limit then
  return refuse('user', ARGV[6], KEYS[1], user_window)
end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tenant_limit then
  return refuse('tenant', ARGV[7], KEYS[2], tenant_window)
end
take(KEYS[1], user_window)
take(KEYS[2], tenant_window)
return {1, '', 0}
