"""The job store's state changes, each one Lua script so that it is atomic in Redis.

Keys, in order: KEYS[1] the job hash, KEYS[2] the queue sorted set, KEYS[3] the prefix
of the per-state sorted sets, KEYS[4] the finished sorted set, KEYS[5] the job's run log,
KEYS[6] the metrics hash (metrics.py): each script counts the change it makes, so the
counters can never disagree with the states.
Times come from Redis's own clock (TIME), so workers on machines whose clocks disagree
still agree on when a lease ends.

A running job carries a lease: a token naming one run, and the time it ends. The run
renews it while it works; only a run holding the lease may record the outcome, and the
reaper may hand the job to another worker only after the lease has ended.
"""

_COMMON = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function move(id, from, to)
  local created = redis.call('HGET', KEYS[1], 'created_at')
  redis.call('ZREM', KEYS[3] .. from, id)
  redis.call('ZADD', KEYS[3] .. to, created, id)
  if to == 'queued' then redis.call('ZADD', KEYS[2], created, id) else redis.call('ZREM', KEYS[2], id) end
end
local function log(event)
  redis.call('RPUSH', KEYS[5], cjson.encode(event))
end
local function count(field)
  redis.call('HINCRBY', KEYS[6], field, 1)
end
local function observe(name, value, bucket)
  redis.call('HINCRBY', KEYS[6], name .. '_bucket:' .. bucket, 1)
  redis.call('HINCRBY', KEYS[6], name .. '_count', 1)
  redis.call('HINCRBYFLOAT', KEYS[6], name .. '_sum', value)
end
local function finish(id, from, state, result, error, token, outcome)
  local t = now()
  redis.call('HSET', KEYS[1], 'state', state, 'finished_at', tostring(t), 'result', result, 'error', error)
  redis.call('HDEL', KEYS[1], 'cancel', 'lease', 'lease_until')
  move(id, from, state)
  redis.call('ZADD', KEYS[4], t, id)
  count('finished:' .. state)
  if token ~= '' then log({ev='end', token=token, t=t, outcome=outcome}) end
end
"""

# ARGV: id, token, worker, pid, lease seconds.  -> 1 started, 0 not queued, -1 unknown
START = (
    _COMMON
    + """
local s = redis.call('HGET', KEYS[1], 'state')
if not s then return -1 end
if s ~= 'queued' then return 0 end
local t = now()
local attempt = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'running', 'started_at', tostring(t), 'worker', ARGV[3], 'pid', ARGV[4],
           'lease', ARGV[2], 'lease_until', tostring(t + tonumber(ARGV[5])), 'frames_done', 0)
move(ARGV[1], 'queued', 'running')
log({ev='start', token=ARGV[2], worker=ARGV[3], pid=tonumber(ARGV[4]), attempt=attempt, t=t})
count('started')
return 1
"""
)

# ARGV: token, lease seconds.  -> 1 renewed, 0 the lease is not ours any more
RENEW = (
    _COMMON
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' or redis.call('HGET', KEYS[1], 'lease') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'lease_until', tostring(now() + tonumber(ARGV[2])))
return 1
"""
)

# ARGV: id, state, result json, error json, token, and for a succeeded run optionally
# encode seconds, its bucket, frames/s, its bucket (metrics.observation_args).
# A run finishes its own job (token); a queued job may be finished as cancelled with no
# token.  -> 1 done, 0 refused, -1 unknown
FINISH = (
    _COMMON
    + """
local s = redis.call('HGET', KEYS[1], 'state')
if not s then return -1 end
if s == 'running' and redis.call('HGET', KEYS[1], 'lease') == ARGV[5] and ARGV[5] ~= '' then
  finish(ARGV[1], s, ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[2])
  if ARGV[2] == 'succeeded' and ARGV[9] then
    observe('encode_duration_seconds', ARGV[6], ARGV[7])
    observe('encode_frames_per_second', ARGV[8], ARGV[9])
  end
  return 1
end
if s == 'queued' and ARGV[2] == 'cancelled' and ARGV[5] == '' then
  finish(ARGV[1], s, ARGV[2], ARGV[3], ARGV[4], '', '')
  return 1
end
return 0
"""
)

# ARGV: id, token.  A stopping worker gives its running job back to the queue.
HAND_BACK = (
    _COMMON
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' or redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'frames_done', 0)
redis.call('HDEL', KEYS[1], 'lease', 'lease_until')
move(ARGV[1], 'running', 'queued')
log({ev='end', token=ARGV[2], t=now(), outcome='handed_back'})
count('requeued:handed_back')
return 1
"""
)

# ARGV: id, most worker deaths.  A running job whose lease has ended lost its worker:
# back to the queue, or failed once it has killed (or lost) too many workers.
# -> 'requeued' | 'failed' | 'cancelled' | '' (nothing to do)
REAP = (
    _COMMON
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return '' end
local until_ = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
local t = now()
if until_ > t then return '' end
local token = redis.call('HGET', KEYS[1], 'lease') or ''
log({ev='end', token=token, t=t, outcome='worker_lost'})
local deaths = redis.call('HINCRBY', KEYS[1], 'deaths', 1)
if redis.call('HGET', KEYS[1], 'cancel') == '1' then
  local error = cjson.encode({code='cancelled', message='cancelled; its worker was lost'})
  finish(ARGV[1], 'running', 'cancelled', '', error, '', '')
  return 'cancelled'
end
if deaths >= tonumber(ARGV[2]) then
  local msg = 'the job lost its worker ' .. deaths .. ' times (killed, or out of memory?); giving up'
  finish(ARGV[1], 'running', 'failed', '', cjson.encode({code='worker_lost', message=msg}), '', '')
  return 'failed'
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'frames_done', 0)
redis.call('HDEL', KEYS[1], 'lease', 'lease_until')
move(ARGV[1], 'running', 'queued')
count('requeued:worker_lost')
return 'requeued'
"""
)

PROGRESS = """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' or redis.call('HGET', KEYS[1], 'lease') ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], 'frames_done', ARGV[1], 'frames_total', ARGV[2])
return 1
"""

REQUEST_CANCEL = """
local s = redis.call('HGET', KEYS[1], 'state')
if not s then return -1 end
if s == 'running' then redis.call('HSET', KEYS[1], 'cancel', '1') end
return s
"""

ALL = {
    "start": START,
    "renew": RENEW,
    "finish": FINISH,
    "hand_back": HAND_BACK,
    "reap": REAP,
    "progress": PROGRESS,
    "request_cancel": REQUEST_CANCEL,
}
