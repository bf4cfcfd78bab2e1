"""The state changes of a split job (one long job cut into segments that any worker
encodes, then joined by one), each one Lua script on the keys scripts.py documents.

A split job stays ``running`` from its first start to its outcome; its units are its
segments and its join, each taken by one run at a time under a lease of its own (hash
fields ``seg:<i>`` queued|running|done, ``seg:<i>:lease``, ``seg:<i>:until``,
``seg:<i>:frames``, ``seg:<i>:done``, ``seg:<i>:deaths``; ``join`` queued|running,
under the job's own ``lease``). A Celery message for a split job means "take its next
queued unit": a duplicate finds none and does nothing.
"""

from img2vid.store.scripts import COMMON

# ARGV: id, token, lease seconds, worker, pid, frames of segment 0, of segment 1, ...
# The whole job's run (holding the job's lease) splits it and goes on as segment 0.
# -> 1 split, 0 the lease is not ours
SPLIT = (
    COMMON
    + """
if not holds(ARGV[2], '') then return 0 end
local n = #ARGV - 5
local t = now()
local total = 0
redis.call('HSET', KEYS[1], 'segments', n, 'segments_done', 0, 'frames_done', 0)
for i = 0, n - 1 do
  local p = 'seg:' .. i
  redis.call('HSET', KEYS[1], p, 'queued', p .. ':frames', ARGV[6 + i], p .. ':done', 0)
  total = total + tonumber(ARGV[6 + i])
end
redis.call('HSET', KEYS[1], 'frames_total', total, 'seg:0', 'running', 'seg:0:lease', ARGV[2],
           'seg:0:until', tostring(t + tonumber(ARGV[3])), 'seg:0:attempts', 1)
redis.call('HDEL', KEYS[1], 'lease', 'lease_until')
log({ev='split', token=ARGV[2], segments=n, t=t})
emit('progress')
log({ev='start', token=ARGV[2], segment=0, worker=ARGV[4], pid=tonumber(ARGV[5]), attempt=1, t=t})
return 1
"""
)

# ARGV: id, token, worker, pid, lease seconds.  Take the split job's first queued
# segment, or its join once every segment is done.
# -> the segment's index, -2 the join, -1 nothing to take
TAKE = (
    COMMON
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' or redis.call('HGET', KEYS[1], 'cancel') == '1' then
  return -1
end
local n = nsegments()
local t = now()
local until_ = tostring(t + tonumber(ARGV[5]))
for i = 0, n - 1 do
  local p = 'seg:' .. i
  if redis.call('HGET', KEYS[1], p) == 'queued' then
    local attempt = redis.call('HINCRBY', KEYS[1], p .. ':attempts', 1)
    redis.call('HSET', KEYS[1], p, 'running', p .. ':lease', ARGV[2], p .. ':until', until_, p .. ':done', 0)
    log({ev='start', token=ARGV[2], segment=i, worker=ARGV[3], pid=tonumber(ARGV[4]), attempt=attempt, t=t})
    return i
  end
end
if n > 0 and redis.call('HGET', KEYS[1], 'join') == 'queued' then
  redis.call('HSET', KEYS[1], 'join', 'running', 'lease', ARGV[2], 'lease_until', until_)
  log({ev='start', token=ARGV[2], segment='join', worker=ARGV[3], pid=tonumber(ARGV[4]), t=t})
  return -2
end
return -1
"""
)

# ARGV: id, token, segment, lease seconds.  A segment is whole in the storage; the run
# that finishes the last one takes the join under the job's lease.
# -> 'cancelled' (it was, meanwhile), 'join' (this run joins), 'more' (queued segments wait: send a message), 'wait'
#    (the rest are running), '' refused (not this run's)
SEGMENT_DONE = (
    COMMON
    + """
if not holds(ARGV[2], ARGV[3]) then return '' end
local p = 'seg:' .. ARGV[3]
local t = now()
if redis.call('HGET', KEYS[1], 'cancel') == '1' then
  finish(ARGV[1], 'running', 'cancelled', '', cjson.encode({code='cancelled', message='cancelled while running'}),
         ARGV[2], 'cancelled')
  return 'cancelled'
end
redis.call('HSET', KEYS[1], p, 'done', p .. ':done', redis.call('HGET', KEYS[1], p .. ':frames'))
redis.call('HDEL', KEYS[1], p .. ':lease', p .. ':until')
sum_progress()
emit_progress(t)
log({ev='end', token=ARGV[2], segment=tonumber(ARGV[3]), t=t, outcome='done'})
local done = redis.call('HINCRBY', KEYS[1], 'segments_done', 1)
local n = nsegments()
if done >= n then
  redis.call('HSET', KEYS[1], 'join', 'running', 'lease', ARGV[2], 'lease_until', tostring(t + tonumber(ARGV[4])))
  log({ev='start', token=ARGV[2], segment='join', t=t})
  return 'join'
end
for i = 0, n - 1 do
  if redis.call('HGET', KEYS[1], 'seg:' .. i) == 'queued' then return 'more' end
end
return 'wait'
"""
)

# -> 1 when the split job waits for a message it may never get: units queued, none running.
IDLE = (
    COMMON
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' or nsegments() == 0 or busy() then return 0 end
return 1
"""
)

ALL = {"split": SPLIT, "take": TAKE, "segment_done": SEGMENT_DONE, "idle": IDLE}
