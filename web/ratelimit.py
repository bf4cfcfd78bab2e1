"""Rate limits (Flask-Limiter), counted in Redis so that every web process shares them.

Two budgets per client, the client being its token's name when it is authenticated
(web/auth.py), else its address:
- IMG2VID_RATE_LIMIT: every request but the health routes and static files;
- IMG2VID_RATE_LIMIT_CREATE: requests that create jobs (POST /api/v1/jobs, /api/v1/batch,
  …/retry, and the pages' /jobs/new and /jobs/<id>/retry).
Over either → 429 ``rate_limited`` with ``Retry-After`` in seconds.

Fixed windows: one Redis round trip (a Lua INCR+EXPIRE) per budget per request, and an
exact Retry-After (the window key's TTL). Flask-Limiter's X-RateLimit headers stay off:
they cost two more round trips on every response, and it would send Retry-After on 200s.

When Redis cannot be reached the limiter counts in each process's memory until Redis
answers again (Flask-Limiter's in-memory fallback, re-checked with a backoff), rather
than answer 500 or 503 itself: every route that needs Redis already says 503
``redis_unavailable``, and the pages that do not need it keep working.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app, request
from flask_limiter import Limit, Limiter, RateLimitExceeded
from redis.backoff import NoBackoff
from redis.retry import Retry

from img2vid.settings import Settings

from .auth import caller
from .config import check_rate_limit
from .errors import error_response

EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
_CREATE_PATHS = frozenset({"/api/v1/jobs", "/api/v1/batch", "/jobs/new"})


class _Budget(Limit):
    """A Limit whose string is parsed once: Flask-Limiter parses it again on every request."""

    def __iter__(self):
        if "_parsed" not in self.__dict__:
            self.__dict__["_parsed"] = tuple(super().__iter__())
        return iter(self.__dict__["_parsed"])


def client_key() -> str:
    name = caller().name
    return f"token:{name}" if name else f"addr:{request.remote_addr or '-'}"


def _not_creating() -> bool:
    return request.method != "POST" or not (request.path in _CREATE_PATHS or request.path.endswith("/retry"))


def _retry_after(exc: RateLimitExceeded) -> int:
    """Whole seconds until the breached window ends (at least 1)."""
    limiter: Limiter = current_app.extensions["img2vid.limiter"]
    try:
        return max(1, math.ceil(limiter.current_limit.reset_at - time.time()))
    except Exception:  # Redis went away after the count: the window's full length is safe
        return exc.limit.limit.get_expiry()


def _too_many(exc: RateLimitExceeded):
    seconds = _retry_after(exc)
    who = "token" if caller().name else "address"
    resp = error_response(429, "rate_limited", f"more than {exc.limit.limit} from this {who}; "
                                                f"try again in {seconds} s")
    resp.headers["Retry-After"] = str(seconds)
    return resp


def install_rate_limits(app: Flask, settings: Settings) -> None:
    budgets = []
    if settings.rate_limit:
        budgets.append(_Budget(check_rate_limit("IMG2VID_RATE_LIMIT", settings.rate_limit), scope="all", shared=True))
    if settings.rate_limit_create:
        budgets.append(_Budget(check_rate_limit("IMG2VID_RATE_LIMIT_CREATE", settings.rate_limit_create), scope="create",
                             shared=True, exempt_when=_not_creating))
    if not budgets:
        return
    limiter = Limiter(
        client_key,
        default_limits=budgets,
        strategy="fixed-window",
        storage_uri=settings.redis_url,
        # Under the store's prefix: one deployment's (or one test run's) keys stay together.
        storage_options={
            "key_prefix": f"{settings.key_prefix}ratelimit", "socket_connect_timeout": 2, "socket_timeout": 2,
            # One quick retry (a dropped idle connection), then the in-memory fallback:
            # redis-py 8's default of many retries with backoff would stall the request.
            "retry": Retry(NoBackoff(), 1),
        },
        headers_enabled=False,
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.request_filter(lambda: request.path in EXEMPT_PATHS)
    limiter.init_app(app)
    app.extensions["img2vid.limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many)
