"""Settings read from the environment, with safe defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .apitokens import ApiToken, parse_api_tokens
from .errors import ConfigError
from .options import DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_PIXELS

DAY = 86_400
# A job past its time limit is failed from inside (it checks ten times a second); only
# if it has not stopped this much later is its worker process killed.
TIME_LIMIT_GRACE = 30

# (field, variable, lowest sensible value): a limit of 0 or less would refuse everything
# or nothing, which is never what was meant.
_AT_LEAST = (
    ("retention_seconds", "IMG2VID_RETENTION_SECONDS", 0), ("max_pixels", "IMG2VID_MAX_PIXELS", 1),
    ("max_frames", "IMG2VID_MAX_FRAMES", 1), ("max_request_bytes", "IMG2VID_MAX_REQUEST_BYTES", 1),
    ("max_zip_entries", "IMG2VID_MAX_ZIP_ENTRIES", 1), ("max_zip_bytes", "IMG2VID_MAX_ZIP_BYTES", 1),
    ("max_batch", "IMG2VID_MAX_BATCH", 1), ("max_frame_bytes", "IMG2VID_MAX_FRAME_BYTES", 1),
    ("max_zip_ratio", "IMG2VID_MAX_ZIP_RATIO", 1), ("task_time_limit", "IMG2VID_TASK_TIME_LIMIT", 1),
    ("lease_seconds", "IMG2VID_LEASE_SECONDS", 0.5), ("heartbeat_seconds", "IMG2VID_HEARTBEAT_SECONDS", 0.1),
    ("max_worker_deaths", "IMG2VID_MAX_WORKER_DEATHS", 1), ("sweep_seconds", "IMG2VID_SWEEP_SECONDS", 0.01),
    ("orphan_seconds", "IMG2VID_ORPHAN_SECONDS", 0), ("decode_threads", "IMG2VID_DECODE_THREADS", 0),
    ("worker_concurrency", "IMG2VID_WORKER_CONCURRENCY", 1), ("trusted_proxies", "IMG2VID_TRUSTED_PROXIES", 0),
)


def _number(name: str, default, kind):
    """``kind`` (int or float) of the variable, or the default when it is unset."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None


def _int(name: str, default: int) -> int:
    return _number(name, default, int)


def _float(name: str, default: float) -> float:
    return _number(name, default, float)


def _str(name: str, default: str) -> str:
    raw = os.environ.get(name)
    return raw if raw not in (None, "") else default


def _rate_limit(name: str, default: str) -> str:
    """A rate limit such as "50 per second"; set but empty, or "off", turns it off ("")."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    raw = raw.strip()
    return "" if raw.lower() in ("", "off") else raw


def _api_tokens() -> tuple[ApiToken, ...]:
    try:
        return parse_api_tokens(os.environ.get("API_TOKENS", ""))
    except ValueError as exc:
        raise ConfigError(f"API_TOKENS: {exc}") from None


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The shared volume: inputs/ (read-only input root), uploads/<job>, outputs/<job>.
    data_dir: Path = Path("data")
    # Every Redis key the job store writes starts with this; Celery's own keys do not.
    key_prefix: str = "img2vid:"
    # Celery queue name, so two deployments (or test runs) can share one Redis.
    queue: str = "img2vid"
    retention_seconds: int = 7 * DAY
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_frames: int = 10_000
    max_request_bytes: int = 2 * 1024**3
    max_zip_entries: int = 20_000
    max_zip_bytes: int = 8 * 1024**3
    max_batch: int = 1_000
    # Bytes in one frame file (an upload, a zip member, a file in an input folder):
    # far above any real frame, and checked before a byte of it is read or extracted.
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    # How much a zip member may expand. Deflate cannot pass about 1,030:1 (a black BMP
    # reaches 1,021:1), so no deflated frame is refused; bzip2 and LZMA bombs are.
    max_zip_ratio: float = 1_100.0
    # Seconds a job may run: then it fails with time_limit_exceeded and is not run
    # again. Its worker process is killed TIME_LIMIT_GRACE seconds later if still busy.
    task_time_limit: int = 3_600
    # A running job's lease: renewed every lease/5 s by its run; when it has ended, the
    # job's worker is taken for dead and another worker may take the job.
    lease_seconds: float = 10.0
    # How often each worker beats, and (one at a time) looks for jobs whose lease ended.
    heartbeat_seconds: float = 2.0
    # A job whose worker is lost this many times fails with worker_lost.
    max_worker_deaths: int = 3
    # A job queued this long while the broker's queue is empty lost its message (the web
    # process died between storing the job and sending it): it is sent again.
    resend_after_seconds: float = 120.0
    # One worker (whichever takes the Redis lock) sweeps expired jobs this often.
    sweep_seconds: float = 60.0
    # A job folder (uploads/ or outputs/) that no job record owns is removed once it has
    # not changed for this long: an upload being saved touches its folder every file.
    orphan_seconds: int = 3_600
    # The jobs page warns when the data volume is fuller than this.
    disk_low_percent: float = 90.0
    # The web app's log level (the worker's is celery's --loglevel).
    log_level: str = "INFO"
    # Signs the web pages' session cookie (CSRF tokens). Required in production; in
    # development one is made and kept in DATA_DIR/.secret_key.
    secret_key: str = ""
    production: bool = False
    # 0 means one decode thread per core.
    decode_threads: int = 0
    # Jobs one worker runs at once. One, so that `--scale worker=N` means N jobs at once,
    # each with every core's decode thread; `celery worker --concurrency` overrides it.
    worker_concurrency: int = 1
    # (name, token) pairs from API_TOKENS; none means the service is open to anyone who
    # can reach it. Never in repr: settings may be printed.
    api_tokens: tuple[ApiToken, ...] = field(default=(), repr=False)
    # Requests per client (its token's name, else its address) to anything but the health
    # routes and static files, and job creations per client; "" turns one off. Counted
    # in Redis, so every web process shares them.
    rate_limit: str = "50 per second"
    rate_limit_create: str = "60 per minute"
    # Proxies in front of gunicorn whose X-Forwarded-For is believed (0: the peer address).
    trusted_proxies: int = 0

    def __post_init__(self) -> None:
        # The Celery queue is a Redis key too; inside the store's prefix it could be
        # taken for one of the store's own keys.
        if self.queue.startswith(self.key_prefix):
            raise ConfigError(f"IMG2VID_QUEUE ({self.queue!r}) must not start with IMG2VID_KEY_PREFIX ({self.key_prefix!r})")
        for attr, variable, low in _AT_LEAST:
            value = getattr(self, attr)
            if value < low:
                raise ConfigError(f"{variable} must be at least {low:g}, got {value!r}")

    @classmethod
    def from_env(cls) -> "Settings":
        d = cls()
        return cls(
            redis_url=_str("REDIS_URL", d.redis_url),
            data_dir=Path(_str("DATA_DIR", str(d.data_dir))),
            key_prefix=_str("IMG2VID_KEY_PREFIX", d.key_prefix),
            queue=_str("IMG2VID_QUEUE", d.queue),
            retention_seconds=_int("IMG2VID_RETENTION_SECONDS", d.retention_seconds),
            max_pixels=_int("IMG2VID_MAX_PIXELS", d.max_pixels),
            max_frames=_int("IMG2VID_MAX_FRAMES", d.max_frames),
            max_request_bytes=_int("IMG2VID_MAX_REQUEST_BYTES", d.max_request_bytes),
            max_zip_entries=_int("IMG2VID_MAX_ZIP_ENTRIES", d.max_zip_entries),
            max_zip_bytes=_int("IMG2VID_MAX_ZIP_BYTES", d.max_zip_bytes),
            max_batch=_int("IMG2VID_MAX_BATCH", d.max_batch),
            max_frame_bytes=_int("IMG2VID_MAX_FRAME_BYTES", d.max_frame_bytes),
            max_zip_ratio=_float("IMG2VID_MAX_ZIP_RATIO", d.max_zip_ratio),
            task_time_limit=_int("IMG2VID_TASK_TIME_LIMIT", d.task_time_limit),
            lease_seconds=_float("IMG2VID_LEASE_SECONDS", d.lease_seconds),
            heartbeat_seconds=_float("IMG2VID_HEARTBEAT_SECONDS", d.heartbeat_seconds),
            max_worker_deaths=_int("IMG2VID_MAX_WORKER_DEATHS", d.max_worker_deaths),
            resend_after_seconds=_float("IMG2VID_RESEND_AFTER_SECONDS", d.resend_after_seconds),
            sweep_seconds=_float("IMG2VID_SWEEP_SECONDS", d.sweep_seconds),
            orphan_seconds=_int("IMG2VID_ORPHAN_SECONDS", d.orphan_seconds),
            disk_low_percent=_float("IMG2VID_DISK_LOW_PERCENT", d.disk_low_percent),
            log_level=_str("IMG2VID_LOG_LEVEL", d.log_level).upper(),
            secret_key=_str("SECRET_KEY", ""),
            production=_str("IMG2VID_ENV", "development").lower() == "production",
            decode_threads=_int("IMG2VID_DECODE_THREADS", d.decode_threads),
            worker_concurrency=_int("IMG2VID_WORKER_CONCURRENCY", d.worker_concurrency),
            api_tokens=_api_tokens(),
            rate_limit=_rate_limit("IMG2VID_RATE_LIMIT", d.rate_limit),
            rate_limit_create=_rate_limit("IMG2VID_RATE_LIMIT_CREATE", d.rate_limit_create),
            trusted_proxies=_int("IMG2VID_TRUSTED_PROXIES", d.trusted_proxies),
        )
