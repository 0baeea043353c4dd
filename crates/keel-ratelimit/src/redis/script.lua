-- keel-ratelimit: GCRA for one key and up to 16 quotas, atomically, on the server clock.
--
-- KEYS[1]  a hash: field i = theoretical arrival time (TAT) of quota i, in microseconds
--          since the Unix epoch (Lua numbers are doubles: exact up to 2^53 µs).
-- ARGV[1]  cost (0 = look only)
-- ARGV[2]  1 = consume when every quota admits, 0 = peek
-- ARGV[3]  n, the number of quotas; then ARGV[2+2i], ARGV[3+2i] = T_i, tau_i (µs):
--          emission interval and burst tolerance of quota i.
--
-- Returns {allowed, retry_after_us, wait_one_us, remaining_1, reset_us_1, retry_us_1, ...}
-- with retry_us_i = -1 when quota i admits. wait_one_us is how long until a cost of 1
-- could pass (what the caller may cache for a denied key).

-- Redis < 5 needs effects replication before a write that follows TIME; later versions
-- replicate effects by default (and 7+ ignores this call).
if redis.replicate_commands then pcall(redis.replicate_commands) end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local cost = tonumber(ARGV[1])
local consume = ARGV[2] == '1' and cost > 0
local n = tonumber(ARGV[3])

local fields = {}
for i = 1, n do fields[i] = tostring(i) end
local stored = redis.call('HMGET', KEYS[1], unpack(fields))

local allowed = 1
local retry = 0
local wait_one = 0
local tats, nexts, retries = {}, {}, {}
for i = 1, n do
  local t = tonumber(ARGV[2 + 2 * i])
  local tau = tonumber(ARGV[3 + 2 * i])
  local tat = tonumber(stored[i]) or now
  tats[i] = tat
  local extra = t * (cost - 1)
  local earliest = tat + extra - tau
  if cost > 0 and now < earliest then
    allowed = 0
    retries[i] = earliest - now
    if retries[i] > retry then retry = retries[i] end
    nexts[i] = tat
  else
    retries[i] = -1
    if cost > 0 then nexts[i] = math.max(tat, now) + t + extra else nexts[i] = tat end
  end
  local w1 = tat - tau - now
  if w1 > wait_one then wait_one = w1 end
end

local commit = allowed == 1 and consume
local out = {allowed, math.floor(retry), math.floor(wait_one)}
local horizon = 0
local args = {}
for i = 1, n do
  local t = tonumber(ARGV[2 + 2 * i])
  local tau = tonumber(ARGV[3 + 2 * i])
  local tat = tats[i]
  if commit then tat = nexts[i] end
  local full = tau + t
  local avail = math.min(math.max(now + full - math.max(tat, now), 0), full)
  out[#out + 1] = math.floor(avail / t)
  out[#out + 1] = math.floor(math.max(tat - now, 0))
  out[#out + 1] = math.floor(retries[i])
  if tat - now > horizon then horizon = tat - now end
  args[#args + 1] = tostring(i)
  args[#args + 1] = string.format('%.0f', nexts[i])
end

if commit then
  redis.call('HSET', KEYS[1], unpack(args))
  -- The key expires once every quota is back to a full burst: then it is idle.
  redis.call('PEXPIRE', KEYS[1], math.floor(horizon / 1000) + 1)
end
return out
