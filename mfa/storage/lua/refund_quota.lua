-- Give back one unit of each counter (a send that did not happen), keeping its
-- window. Never below zero, and never creates a counter.
-- KEYS  the counters
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
