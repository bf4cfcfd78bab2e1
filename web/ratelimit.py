"""Rate limits (Flask-Limiter), counted in Redis so that every web process shares them.

Two budgets per client, the client being its token's name when it is authenticated
(web/auth.py), else its address:
- IMG2VID_RATE_LIMIT: every request, as an application-wide limit; the views that are
  not counted say so with ``@limiter.exempt`` (the health routes; static files are
  Flask-Limiter's own exemption);
- IMG2VID_RATE_LIMIT_CREATE: the views that create jobs say so with ``@creates_jobs``
  (POST /api/v1/jobs, /api/v1/batch, …/retry, and the pages' /jobs/new and
  /jobs/<id>/retry): one budget shared by all of them.
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
from flask_limiter import Limiter, RateLimitExceeded
from redis.backoff import NoBackoff
from redis.retry import Retry

from img2vid.settings import WebSettings
from web.auth import caller
from web.errors import error_response

CREATE_LIMIT = "IMG2VID_RATE_LIMIT_CREATE"


def client_key() -> str:
    name = caller().name
    return f"token:{name}" if name else f"addr:{request.remote_addr or '-'}"


# Made here, bound to the app by init_rate_limits, so that views can carry its marks.
limiter = Limiter(client_key)

# The app's config holds the budget; "" (off) makes the limit empty.
creates_jobs = limiter.shared_limit(lambda: current_app.config[CREATE_LIMIT], scope="create", override_defaults=False)


def _retry_after(exc: RateLimitExceeded) -> int:
    """Whole seconds until the breached window ends (at least 1)."""
    try:
        return max(1, math.ceil(limiter.current_limit.reset_at - time.time()))
    except Exception:  # Redis went away after the count: the window's full length is safe
        return exc.limit.limit.get_expiry()


def _too_many(exc: RateLimitExceeded):
    seconds = _retry_after(exc)
    who = "token" if caller().name else "address"
    resp = error_response(429, "rate_limited", f"more than {exc.limit.limit} from this {who}; try again in {seconds} s")
    resp.headers["Retry-After"] = str(seconds)
    return resp


def init_rate_limits(app: Flask, settings: WebSettings) -> None:
    app.config.update(
        {
            "RATELIMIT_ENABLED": bool(settings.rate_limit or settings.rate_limit_create),
            "RATELIMIT_APPLICATION": settings.rate_limit or None,
            CREATE_LIMIT: settings.rate_limit_create,
            "RATELIMIT_STRATEGY": "fixed-window",
            "RATELIMIT_STORAGE_URI": settings.redis_url,
            "RATELIMIT_STORAGE_OPTIONS": {
                # Under the store's prefix: one deployment's (or one test run's) keys stay together.
                "key_prefix": app.extensions["img2vid"].store.namespace("ratelimit"),
                "socket_connect_timeout": 2,
                "socket_timeout": 2,
                # One quick retry (a dropped idle connection), then the in-memory fallback:
                # redis-py 8's default of many retries with backoff would stall the request.
                "retry": Retry(NoBackoff(), 1),
            },
            "RATELIMIT_HEADERS_ENABLED": False,
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RATELIMIT_SWALLOW_ERRORS": True,
        }
    )
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _too_many)
