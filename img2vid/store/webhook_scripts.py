"""The webhook deliveries' Lua scripts, each atomic in Redis, on Redis's clock.

A finished job that names a webhook_url is in the due set (``Keys.webhooks_due``),
scored by when its delivery is next due: the state-changing scripts put it there at its
finish (scripts.py). A delivery's life, on the set's score and the job hash's
``webhook_*`` fields:

- claimed (CLAIM_DUE by the sweep, CLAIM_ONE by the fast path): the score moves a claim
  lease ahead, so that nobody else sends a message for it meanwhile; a message that is
  lost (its sender died) is sent again once the claim ends;
- begun (BEGIN, by the task that got the message): the attempt is the holder of
  ``webhook_busy`` until ``webhook_busy_until``, and the score moves to that time. A
  worker killed mid-delivery leaves both to end, and the delivery is due again then:
  that is the at-least-once;
- recorded (RECORD): one attempt more, its status; then delivered (out of the set),
  due again later (``webhook_next_at``, the score), or given up (out of the set).

Keys: KEYS[1] the job hash, KEYS[2] the due set (CLAIM_DUE: KEYS[1] the due set).
"""

NOW = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# ARGV: claim seconds, most ids.  -> the ids claimed (due now, now claimed)
CLAIM_DUE = (
    NOW
    + """
local t = now()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], t + tonumber(ARGV[1]), id) end
return ids
"""
)

# KEYS: the job hash (unused), the due set. ARGV: id, claim seconds.
# -> 1 claimed, 0 not due (no webhook, delivered, claimed already, or due later)
CLAIM_ONE = (
    NOW
    + """
local t = now()
local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not due or tonumber(due) > t then return 0 end
redis.call('ZADD', KEYS[2], t + tonumber(ARGV[2]), ARGV[1])
return 1
"""
)

# ARGV: id, token, lease seconds.
# -> 'go' (this attempt is token's), 'gone' (no job), 'done' (delivered, given up, or
# never due), 'busy' (another attempt holds it), 'later' (a retry not due yet)
BEGIN = (
    NOW
    + """
local t = now()
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 'gone'
end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 'done' end
if tonumber(redis.call('HGET', KEYS[1], 'webhook_busy_until') or '0') > t then return 'busy' end
if tonumber(redis.call('HGET', KEYS[1], 'webhook_next_at') or '0') > t then return 'later' end
local ends = t + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'webhook_busy', ARGV[2], 'webhook_busy_until', tostring(ends))
redis.call('ZADD', KEYS[2], ends, ARGV[1])
return 'go'
"""
)

# ARGV: id, token, status, error, outcome ('delivered' | 'retry' | 'give_up'), seconds
# until the retry.  -> the attempts so far, or 0 when the attempt is not token's any more
# (its lease ended and another began, or the job is gone): nothing is written then.
RECORD = (
    NOW
    + """
if redis.call('HGET', KEYS[1], 'webhook_busy') ~= ARGV[2] then return 0 end
local t = now()
local n = redis.call('HINCRBY', KEYS[1], 'webhook_attempts', 1)
redis.call('HSET', KEYS[1], 'webhook_status', ARGV[3], 'webhook_error', ARGV[4], 'webhook_attempt_at', tostring(t))
redis.call('HDEL', KEYS[1], 'webhook_busy', 'webhook_busy_until', 'webhook_next_at')
if ARGV[5] == 'retry' then
  local next_at = t + tonumber(ARGV[6])
  redis.call('HSET', KEYS[1], 'webhook_next_at', tostring(next_at))
  redis.call('ZADD', KEYS[2], next_at, ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[5] == 'delivered' and 'webhook_delivered_at' or 'webhook_gave_up_at', tostring(t))
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return n
"""
)

ALL = {
    "webhook_claim_due": CLAIM_DUE,
    "webhook_claim_one": CLAIM_ONE,
    "webhook_begin": BEGIN,
    "webhook_record": RECORD,
}
