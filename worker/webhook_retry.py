"""What becomes of a delivery after an attempt: delivered, tried again (when), or given up.

- 2xx: delivered.
- No answer (a timeout, a connection error) or 408, 429, 5xx: tried again after the
  schedule's next step (IMG2VID_WEBHOOK_RETRY_SECONDS, the last step repeating) within
  ±20 %, so that receivers that failed together are not all called again in the same
  second; never sooner than the receiver's Retry-After (seconds or an HTTP date, at
  most an hour).
- Anything else (another 4xx, a 3xx: redirects are never followed; a refused address):
  given up, as asking again would get the same answer.
- No retry is scheduled past the give-up time (IMG2VID_WEBHOOK_GIVE_UP_SECONDS after
  the job finished): the delivery is given up instead.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime

JITTER = 0.2
RETRY_AFTER_MAX = 3600.0
NO_ANSWER = ("timeout", "connection_error")


def verdict(status: int | str) -> str:
    """'delivered', 'retry' or 'give_up' for an attempt's status."""
    if isinstance(status, int):
        if 200 <= status < 300:
            return "delivered"
        if status in (408, 429) or 500 <= status < 600:
            return "retry"
        return "give_up"
    return "retry" if status in NO_ANSWER else "give_up"


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks for (a number, or an HTTP date compared with
    ``now``), at most an hour; None when there is none or it cannot be read."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def backoff(schedule: Sequence[float], attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the retry that follows attempt number ``attempts`` (1 for the
    first), jittered within ±20 %."""
    step = schedule[min(max(attempts, 1), len(schedule)) - 1]
    return step * (1 - JITTER + 2 * JITTER * rand())


def plan(
    status: int | str,
    attempts: int,
    *,
    schedule: Sequence[float],
    now: float,
    give_up_at: float,
    retry_after_header: str | None = None,
    rand: Callable[[], float] = random.random,
) -> tuple[str, float]:
    """(outcome, seconds until the retry; 0 unless 'retry') after attempt ``attempts``."""
    outcome = verdict(status)
    if outcome != "retry":
        return outcome, 0.0
    delay = max(backoff(schedule, attempts, rand), retry_after(retry_after_header, now) or 0.0)
    if now + delay > give_up_at:
        return "give_up", 0.0
    return "retry", delay
