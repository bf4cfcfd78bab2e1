"""``img2vid up``: the whole system as local processes (Redis, Celery workers, gunicorn),
until Ctrl-C or SIGTERM stops them all."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from pathlib import Path

from ..errors import Img2VidError
from ..settings import Settings

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WATCH_SECONDS = 0.5


class UpError(Img2VidError):
    """Raised when part of the system cannot start, or stops by itself."""

    code = "up_failed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    import redis

    from ..stack import Stack, redis_server_binary

    if args.workers < 1:
        raise UpError(f"--workers must be 1 or more, got {args.workers}", code="bad_workers")
    _check_port_free(args.port)
    data = Path(args.data or os.environ.get("DATA_DIR") or "data").resolve()
    (data / "inputs").mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env()
    redis_url = os.environ.get("REDIS_URL") or None
    if redis_url is None:
        try:
            redis_server_binary()
        except SystemExit as exc:  # its message says what to install
            raise UpError(str(exc), code="no_redis_server") from None
    else:
        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            raise UpError(f"cannot reach Redis at REDIS_URL={redis_url}: {exc}", code="redis_unavailable") from None

    # Every process reads the same settings: pass on the ones `up` decides.
    stack = Stack(data_dir=data, log_dir=data / "logs", env={
        "DATA_DIR": str(data), "IMG2VID_KEY_PREFIX": settings.key_prefix, "IMG2VID_QUEUE": settings.queue,
    })
    # SIGTERM and SIGHUP stop everything just as Ctrl-C does; the children run in their
    # own sessions, so only this process hears the terminal and stops them in order.
    previous = {sig: signal.signal(sig, _interrupt) for sig in _STOP_SIGNALS}
    try:
        if redis_url is None:
            _, redis_url = stack.start_redis(appendonly=True)
            where_redis = f"a private Redis at {redis_url}"
        else:
            where_redis = f"Redis at {redis_url}"
        stack.env["REDIS_URL"] = redis_url
        for i in range(1, args.workers + 1):
            stack.start_worker(f"worker{i}")
        try:
            _, url = stack.start_web(args.port)
            stack.wait_workers(url, args.workers, timeout=60)
        except TimeoutError as exc:
            _check_alive(stack)
            raise UpError(f"{exc}; see the logs in {stack.log_dir}", code="start_failed") from None
        plural = "s" if args.workers != 1 else ""
        print(f"img2vid up: listening on {url} with {args.workers} worker{plural}; data in {data} "
              f"(frames for --remote jobs go in {data / 'inputs'}), logs in {stack.log_dir}, {where_redis}; "
              "Ctrl-C stops it", flush=True)
        while True:
            time.sleep(WATCH_SECONDS)
            _check_alive(stack)
    except KeyboardInterrupt:
        print("img2vid up: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        # Let nothing interrupt the shutdown; Proc.stop escalates to SIGKILL on its own.
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_port_free(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UpError(f"port {port} is taken ({exc.strerror}); pass --port", code="port_in_use") from None


def _check_alive(stack) -> None:
    for proc in stack.procs:
        if not proc.alive:
            raise UpError(f"{proc.name} exited with status {proc.popen.returncode}; see {proc.log}", code="process_exited")
