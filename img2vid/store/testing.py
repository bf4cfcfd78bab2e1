"""What tests do to a job store that no service code may: age a finished job, see every
key that holds a job, write a record as an older version did, and remove everything a
test system wrote. Here, beside the store, so that only the store knows its keys."""

from __future__ import annotations

from img2vid.store.jobstore import JobStore


def backdate_finish(store: JobStore, job_id: str, seconds: float) -> None:
    """Make a finished job look as if it finished ``seconds`` ago (on Redis's clock)."""
    store._redis.zadd(store._keys.finished, {job_id: store.server_time() - seconds})


def keys_holding(store: JobStore, job_id: str) -> list[str]:
    """Every key of the store that holds the job: its own keys, and the indexes naming it."""
    r = store._redis
    found = [k for k in r.scan_iter(f"{store.prefix}*{job_id}*")]
    for key in r.scan_iter(f"{store.prefix}*"):
        if r.type(key) in ("zset", b"zset") and r.zscore(key, job_id) is not None:
            found.append(key)
    return found


def record_field(store: JobStore, job_id: str, field: str) -> str | None:
    return store._redis.hget(store._keys.job(job_id), field)


def overwrite_record_field(store: JobStore, job_id: str, field: str, text: str) -> None:
    """Write one field of a job's record as it is given (a record from an older version)."""
    store._redis.hset(store._keys.job(job_id), field, text)


def forget_everything(store: JobStore, queue: str) -> None:
    """Remove what a test system wrote to Redis: every key under the store's prefix, and
    every queue whose name starts with ``queue`` (with kombu's priority lists and
    bindings), and the messages a killed worker left in kombu's shared "unacked" hash."""
    r = store._redis
    keys = [*r.scan_iter(f"{store.prefix}*"), *r.scan_iter(f"{queue}*"), *r.scan_iter(f"_kombu.binding*{queue}*")]
    if keys:
        r.delete(*keys)
    for tag, payload in r.hscan_iter("unacked"):
        if queue in (payload.decode(errors="replace") if isinstance(payload, bytes) else payload):
            r.hdel("unacked", tag)
            r.zrem("unacked_index", tag)
