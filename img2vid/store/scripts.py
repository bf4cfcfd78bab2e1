"""The job store's state changes, each one Lua script so that it is atomic in Redis.

Keys, in order: KEYS[1] the job hash, KEYS[2] the queue sorted set, KEYS[3] the prefix
of the per-state sorted sets, KEYS[4] the finished sorted set, KEYS[5] the job's run log,
KEYS[6] the metrics hash (metrics.py): each script counts the change it makes, so the
counters can never disagree with the states; KEYS[7] the event stream (events.py): each
script adds the event its change makes, so every web process and host sees the same
ones; KEYS[8] the webhook deliveries due (a finished job that names a webhook_url).
Times come from Redis's own clock (TIME), so workers on machines whose clocks disagree
still agree on when a lease ends.

A running job carries a lease: a token naming one run, and the time it ends. The run
renews it while it works; only a run holding the lease may record the outcome, and the
reaper may hand the job to another worker only after the lease has ended.
"""

# Events kept in the stream for followers that reconnect (about the last hours of a busy
# service; trimmed approximately, which Redis does cheaply).
EVENTS_KEPT = 50_000

COMMON = """
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
-- An event for the job's followers: its id, its type and whose it is (they filter on it).
local function emit(kind)
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', 'EVENTS_KEPT', '*', 'job', redis.call('HGET', KEYS[1], 'id'),
             'type', kind, 'owner', redis.call('HGET', KEYS[1], 'owner') or '')
end
-- Progress reaches followers at most every half second (a run reports far more often).
local function emit_progress(t)
  local last = tonumber(redis.call('HGET', KEYS[1], 'event_progress_at') or '0')
  if t - last >= 0.5 then
    redis.call('HSET', KEYS[1], 'event_progress_at', tostring(t))
    emit('progress')
  end
end
local function observe(name, value, bucket)
  redis.call('HINCRBY', KEYS[6], name .. '_bucket:' .. bucket, 1)
  redis.call('HINCRBY', KEYS[6], name .. '_count', 1)
  redis.call('HINCRBYFLOAT', KEYS[6], name .. '_sum', value)
end
-- A split job's units: segment i holds its lease in seg:<i>:lease and seg:<i>:until;
-- the job's own lease and lease_until belong to a whole job's run, or to its join.
local function nsegments()
  return tonumber(redis.call('HGET', KEYS[1], 'segments') or '0')
end
local function lease_field(unit)
  if unit == nil or unit == '' then return 'lease' end
  return 'seg:' .. unit .. ':lease'
end
local function until_field(unit)
  if unit == nil or unit == '' then return 'lease_until' end
  return 'seg:' .. unit .. ':until'
end
local function holds(token, unit)
  return token ~= '' and redis.call('HGET', KEYS[1], 'state') == 'running'
    and redis.call('HGET', KEYS[1], lease_field(unit)) == token
end
-- Whether ``token`` holds any unit of the job (the join, or one of its segments).
local function holds_any(token)
  if holds(token, '') then return true end
  for i = 0, nsegments() - 1 do
    if holds(token, tostring(i)) then return true end
  end
  return false
end
-- A split job's frames done: the sum over its segments.
local function sum_progress()
  local total = 0
  for i = 0, nsegments() - 1 do
    total = total + tonumber(redis.call('HGET', KEYS[1], 'seg:' .. i .. ':done') or '0')
  end
  redis.call('HSET', KEYS[1], 'frames_done', total)
end
local function requeue_segment(i)
  local p = 'seg:' .. i
  redis.call('HSET', KEYS[1], p, 'queued', p .. ':done', 0)
  redis.call('HDEL', KEYS[1], p .. ':lease', p .. ':until')
  sum_progress()
end
-- Whether any unit of a split job is running now.
local function busy()
  if redis.call('HGET', KEYS[1], 'join') == 'running' then return true end
  for i = 0, nsegments() - 1 do
    if redis.call('HGET', KEYS[1], 'seg:' .. i) == 'running' then return true end
  end
  return false
end
local function finish(id, from, state, result, error, token, outcome)
  local t = now()
  redis.call('HSET', KEYS[1], 'state', state, 'finished_at', tostring(t), 'result', result, 'error', error)
  redis.call('HDEL', KEYS[1], 'cancel', 'lease', 'lease_until', 'join')
  for i = 0, nsegments() - 1 do
    redis.call('HDEL', KEYS[1], 'seg:' .. i .. ':lease', 'seg:' .. i .. ':until')
    if redis.call('HGET', KEYS[1], 'seg:' .. i) == 'running' then redis.call('HSET', KEYS[1], 'seg:' .. i, 'queued') end
  end
  move(id, from, state)
  redis.call('ZADD', KEYS[4], t, id)
  count('finished:' .. state)
  if token ~= '' then log({ev='end', token=token, t=t, outcome=outcome}) end
  emit(state)
  local spec = cjson.decode(redis.call('HGET', KEYS[1], 'spec') or '{}')
  if type(spec['webhook_url']) == 'string' then redis.call('ZADD', KEYS[8], t, id) end
end
""".replace("EVENTS_KEPT", str(EVENTS_KEPT))

# ARGV: id, token, worker, pid, lease seconds.  -> 1 started, 0 not queued, -1 unknown
START = (
    COMMON
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
emit('started')
return 1
"""
)

# ARGV: token, lease seconds, unit ('' the job's own lease, or a segment's index).
# -> 1 renewed, 0 the lease is not ours any more
RENEW = (
    COMMON
    + """
if not holds(ARGV[1], ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], until_field(ARGV[3]), tostring(now() + tonumber(ARGV[2])))
return 1
"""
)

# ARGV: id, state, result json, error json, token, and for a succeeded run optionally
# encode seconds, its bucket, frames/s, its bucket (metrics.observation_args).
# A run finishes its own job (token: its own lease, or one of a split job's units); a
# queued job, or a split job with no unit running, may be finished as cancelled with no
# token.  -> 1 done, 0 refused, -1 unknown
FINISH = (
    COMMON
    + """
local s = redis.call('HGET', KEYS[1], 'state')
if not s then return -1 end
if s == 'running' and holds_any(ARGV[5]) then
  finish(ARGV[1], s, ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[2])
  if ARGV[2] == 'succeeded' and ARGV[9] then
    observe('encode_duration_seconds', ARGV[6], ARGV[7])
    observe('encode_frames_per_second', ARGV[8], ARGV[9])
  end
  return 1
end
local idle = s == 'running' and nsegments() > 0 and not busy()
if ARGV[2] == 'cancelled' and ARGV[5] == '' and (s == 'queued' or idle) then
  finish(ARGV[1], s, ARGV[2], ARGV[3], ARGV[4], '', '')
  return 1
end
return 0
"""
)

# ARGV: id, token, unit.  A stopping worker gives its run back: a whole job to the
# queue, a split job's segment or join to the job's own queued units.
HAND_BACK = (
    COMMON
    + """
if not holds(ARGV[2], ARGV[3]) then return 0 end
if ARGV[3] ~= '' then
  requeue_segment(ARGV[3])
  log({ev='end', token=ARGV[2], segment=tonumber(ARGV[3]), t=now(), outcome='handed_back'})
  return 1
end
if nsegments() > 0 then
  redis.call('HSET', KEYS[1], 'join', 'queued')
  redis.call('HDEL', KEYS[1], 'lease', 'lease_until')
  log({ev='end', token=ARGV[2], segment='join', t=now(), outcome='handed_back'})
  return 1
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'frames_done', 0)
redis.call('HDEL', KEYS[1], 'lease', 'lease_until')
move(ARGV[1], 'running', 'queued')
log({ev='end', token=ARGV[2], t=now(), outcome='handed_back'})
count('requeued:handed_back')
emit('queued')
return 1
"""
)

# ARGV: id, most worker deaths.  A running job whose lease has ended lost its worker:
# back to the queue, or failed once it has killed (or lost) too many workers.
# A split job's units are taken back each alone (a segment's deaths are its own).
# -> 'requeued' | 'failed' | 'cancelled' | '' (nothing to do); a split job's
# 'requeued:<units>' says how many units went back (each needs a message).
REAP = (
    COMMON
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return '' end
local t = now()
local n = nsegments()
if n > 0 then
  local back = 0
  local cancelled = redis.call('HGET', KEYS[1], 'cancel') == '1'
  -- A unit's worker is lost: true when that was its last death allowed (the job failed).
  local function lost(unit, label, deaths_field)
    local token = redis.call('HGET', KEYS[1], lease_field(unit)) or ''
    log({ev='end', token=token, segment=label, t=t, outcome='worker_lost'})
    local deaths = redis.call('HINCRBY', KEYS[1], deaths_field, 1)
    if cancelled or deaths < tonumber(ARGV[2]) then return false end
    local msg = 'the ' .. (unit == '' and 'join' or ('segment ' .. (tonumber(unit) + 1))) .. ' lost its worker '
      .. deaths .. ' times (killed, or out of memory?); giving up'
    finish(ARGV[1], 'running', 'failed', '', cjson.encode({code='worker_lost', message=msg}), '', '')
    return true
  end
  if redis.call('HGET', KEYS[1], 'join') == 'running'
     and tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0') <= t then
    if lost('', 'join', 'deaths') then return 'failed' end
    redis.call('HSET', KEYS[1], 'join', 'queued')
    redis.call('HDEL', KEYS[1], 'lease', 'lease_until')
    back = back + 1
  end
  for i = 0, n - 1 do
    local p = 'seg:' .. i
    local ends = tonumber(redis.call('HGET', KEYS[1], p .. ':until') or '0')
    if redis.call('HGET', KEYS[1], p) == 'running' and ends <= t then
      if lost(tostring(i), i, p .. ':deaths') then return 'failed' end
      requeue_segment(i)
      back = back + 1
    end
  end
  if cancelled and not busy() then
    local error = cjson.encode({code='cancelled', message='cancelled; its worker was lost'})
    finish(ARGV[1], 'running', 'cancelled', '', error, '', '')
    return 'cancelled'
  end
  if back > 0 then
    count('requeued:worker_lost')
    return 'requeued:' .. back
  end
  return ''
end
local until_ = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
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
emit('queued')
return 'requeued'
"""
)

# ARGV: frames done, frames total, token, unit.  A segment reports its own frames done
# (its total is the split's); the job's are the sum.
PROGRESS = (
    COMMON
    + """
if not holds(ARGV[3], ARGV[4]) then return 0 end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'seg:' .. ARGV[4] .. ':done', ARGV[1])
  sum_progress()
else
  redis.call('HSET', KEYS[1], 'frames_done', ARGV[1], 'frames_total', ARGV[2])
end
emit_progress(now())
return 1
"""
)

# A running job is asked to stop; a split job none of whose units runs (all waiting for
# a worker) has no run to ask, and the caller finishes it (FINISH allows that).
REQUEST_CANCEL = (
    COMMON
    + """
local s = redis.call('HGET', KEYS[1], 'state')
if not s then return -1 end
if s == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  if nsegments() > 0 and not busy() then return 'idle' end
end
return s
"""
)

# KEYS: the job hash, the queue, the rate, the workers; ARGV: id, live since.  What the
# status GET needs in one reply: the hash (flat), the queue position (or nil), the rate,
# the live workers. Reads only.
JOB_WITH_ETA = """
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return {h, false, false, 0} end
return {h, redis.call('ZRANK', KEYS[2], ARGV[1]), redis.call('GET', KEYS[3]),
        redis.call('ZCOUNT', KEYS[4], ARGV[2], '+inf')}
"""

ALL = {
    "job_with_eta": JOB_WITH_ETA,
    "start": START,
    "renew": RENEW,
    "finish": FINISH,
    "hand_back": HAND_BACK,
    "reap": REAP,
    "progress": PROGRESS,
    "request_cancel": REQUEST_CANCEL,
}
