"""Rate limits, counted in Redis so that every web process shares them.

Two budgets per client, the client being its token's name when it is authenticated
(web/auth.py), else its address:
- IMG2VID_RATE_LIMIT: every request, but for the views marked ``@unlimited`` (the health
  routes) and static files;
- IMG2VID_RATE_LIMIT_CREATE: the views marked ``@creates_jobs`` (POST /api/v1/jobs,
  /api/v1/batch, …/retry, and the pages' /jobs/new and /jobs/<id>/retry): one budget
  shared by all of them.
Over either → 429 ``rate_limited`` with ``Retry-After`` in seconds.

Fixed windows, counted by the ``limits`` library (one Redis round trip, its Lua
INCR+EXPIRE, per budget per request; an exact Retry-After from the window's end). Its
Flask extension, Flask-Limiter, did the same at twice the CPU (it works out which of its
many kinds of limits apply on every request): a quarter of a status GET's time, which
the API's throughput target could not afford. What is left here is only which budgets
a request spends.

When Redis cannot be reached the budgets are counted in each process's memory until
Redis answers again (tried again after RETRY_REDIS_SECONDS), rather than answer 500 or
503 here: every route that needs Redis already says 503 ``redis_unavailable``, and the
pages that do not need it keep working.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from img2vid.settings import WebSettings
from web.auth import caller
from web.errors import error_response
from web.policy import view_is

log = logging.getLogger(__name__)
V = TypeVar("V", bound=Callable)
RETRY_REDIS_SECONDS = 5.0


def unlimited(view: V) -> V:
    """Never counted against a budget (the health routes: probes come often)."""
    view.img2vid_unlimited = True  # type: ignore[attr-defined]
    return view


def creates_jobs(view: V) -> V:
    """Spends the job-creation budget too."""
    view.img2vid_creates = True  # type: ignore[attr-defined]
    return view


def client_key() -> str:
    name = caller().name
    return f"token:{name}" if name else f"addr:{request.remote_addr or '-'}"


class Budgets:
    """The app's budgets and where they are counted."""

    def __init__(self, settings: WebSettings, key_prefix: str) -> None:
        self.every = parse_many(settings.rate_limit) if settings.rate_limit else []
        self.create = parse_many(settings.rate_limit_create) if settings.rate_limit_create else []
        redis = RedisStorage(
            settings.redis_url,
            key_prefix=key_prefix,
            wrap_exceptions=True,
            socket_connect_timeout=2,
            socket_timeout=2,
            # One quick retry (a dropped idle connection), then memory: redis-py 8's
            # default of many retries with backoff would stall the request.
            retry=Retry(NoBackoff(), 1),
        )
        self._redis = FixedWindowRateLimiter(redis)
        self._memory = FixedWindowRateLimiter(MemoryStorage())
        self._redis_away_until = 0.0

    def refusal(self) -> tuple[RateLimitItem, int] | None:
        """The budget this request is over and the seconds until its window ends, or None."""
        if view_is("unlimited") or request.endpoint == "static":
            return None
        spend = [(item, "every") for item in self.every]
        if view_is("creates"):
            spend += [(item, "create") for item in self.create]
        key = client_key()
        for item, scope in spend:
            if not self._hit(item, scope, key):
                return item, self._seconds_left(item, scope, key)
        return None

    def _counter(self) -> FixedWindowRateLimiter:
        return self._memory if time.monotonic() < self._redis_away_until else self._redis

    def _hit(self, item: RateLimitItem, scope: str, key: str) -> bool:
        counter = self._counter()
        try:
            return counter.hit(item, scope, key)
        except Exception as exc:  # limits' StorageError: Redis away, count here meanwhile
            log.warning("rate limits are counted in memory until Redis answers: %s", exc)
            self._redis_away_until = time.monotonic() + RETRY_REDIS_SECONDS
            return self._memory.hit(item, scope, key)

    def _seconds_left(self, item: RateLimitItem, scope: str, key: str) -> int:
        try:
            reset = self._counter().get_window_stats(item, scope, key).reset_time
            return max(1, math.ceil(reset - time.time()))
        except Exception:  # Redis went away after the count: the window's length is safe
            return item.get_expiry()


def _check():
    refused = current_app.extensions["img2vid.budgets"].refusal()
    if refused is None:
        return None
    item, seconds = refused
    who = "token" if caller().name else "address"
    resp = error_response(429, "rate_limited", f"more than {item} from this {who}; try again in {seconds} s")
    resp.headers["Retry-After"] = str(seconds)
    return resp


def init_rate_limits(app: Flask, settings: WebSettings) -> None:
    if not (settings.rate_limit or settings.rate_limit_create):
        return
    # Under the store's prefix: one deployment's (or one test run's) keys stay together.
    prefix = app.extensions["img2vid"].store.namespace("ratelimit")
    app.extensions["img2vid.budgets"] = Budgets(settings, prefix)
    app.before_request(_check)
