"""What every part of the job store stands on: the Redis client (private to the store),
the key names, the registered scripts, and turning a lost Redis into a clear 503."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import redis

from img2vid.errors import UnavailableError
from img2vid.store import scripts, segment_scripts, webhook_scripts
from img2vid.store.keys import Keys

log = logging.getLogger("img2vid.store")


class StoreBase:
    def __init__(self, client: redis.Redis, prefix: str = "img2vid:") -> None:
        self._redis = client
        self._keys = Keys(prefix)
        every = {**scripts.ALL, **segment_scripts.ALL, **webhook_scripts.ALL}
        self._scripts = {name: client.register_script(source) for name, source in every.items()}

    @classmethod
    def from_url(cls, url: str, prefix: str = "img2vid:"):
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=15,
            retry_on_timeout=True,
        )
        return cls(client, prefix)

    @property
    def prefix(self) -> str:
        return self._keys.prefix

    def namespace(self, name: str) -> str:
        """A key prefix inside the store's for another library's keys (the rate limiter's)."""
        return self._keys.namespace(name)

    def _run(self, script: str, job_id: str, *args):
        """Run one of the state-changing scripts on the job's keys."""
        return self._scripts[script](keys=self._keys.for_scripts(job_id), args=list(args))

    def server_time(self) -> float:
        """Redis's clock, which stamps finishes and leases (scripts.py)."""
        seconds, micros = self._redis.time()
        return seconds + micros / 1_000_000

    def ping(self) -> bool:
        with self._guard():
            return bool(self._redis.ping())

    @staticmethod
    @contextmanager
    def _guard():
        """Turn a lost Redis into UnavailableError (HTTP 503) with a clear message."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # The address is the operator's business (the log has it), not the client's.
            log.warning("the job store (Redis) cannot be reached: %s", exc, extra={"event": "redis_unavailable"})
            raise UnavailableError("the job store (Redis) cannot be reached; try again in a minute") from exc
