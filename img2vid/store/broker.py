"""The Celery queue's messages as they lie in Redis (kombu's Redis transport), read to
count them and to find jobs whose message was lost.

Kombu keeps one list per priority step and takes from the highest (0) first: the
queue's own name (priority 0), then name + "\\x06\\x16" + step for steps 3, 6, 9.
"""

from __future__ import annotations

import time

from img2vid.store.base import StoreBase

_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def broker_lists(queue: str) -> list[str]:
    """The Redis lists that hold the queue's messages not yet taken by a worker."""
    return [queue + suffix for suffix in _PRIORITY_SUFFIXES]


class BrokerMixin(StoreBase):
    def broker_messages(self, queue: str) -> int:
        """Messages of ``queue`` not yet taken by a worker (prefetched ones not counted)."""
        pipe = self._redis.pipeline(transaction=False)
        for name in broker_lists(queue):
            pipe.llen(name)
        return sum(pipe.execute())

    def lost_queued(self, queue: str, older_than: float) -> list[str]:
        """Jobs queued for longer than ``older_than`` seconds while ``queue`` holds no
        message at all: their message never arrived (the web process died between
        storing the job and sending it)."""
        if self.broker_messages(queue):
            return []
        return self._redis.zrangebyscore(self._keys.queue, "-inf", time.time() - older_than)
