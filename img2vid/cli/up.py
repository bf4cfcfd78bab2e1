"""``img2vid up``: the whole system as local processes under supervisord (Valkey or the
Redis at IMG2VID_REDIS_URL, Celery workers, gunicorn), until Ctrl-C or SIGTERM stops
them all."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

from img2vid.errors import Img2VidError
from img2vid.settings import Settings

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WATCH_SECONDS = 0.5
# Valkey starts first and supervisord stops it last: the workers hand their running
# jobs back through it. Workers and web stop together, so that Ctrl-C reaches a running
# job at once rather than after gunicorn's own stop; a job submitted meanwhile just waits
# in Valkey for the next start.
VALKEY, APP = 100, 200


class UpError(Img2VidError):
    """Raised when part of the system cannot start, or stops by itself."""

    code = "up_failed"


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    import redis

    try:
        import supervisor  # noqa: F401  (supervisord runs as python -m supervisor.supervisord)
    except ImportError:
        raise UpError(
            "img2vid up needs the supervisor package: pip install -e '.[up]'", code="missing_dependency"
        ) from None
    from img2vid.cli.processes import NoRedisServerError, free_port, ready_workers, redis_argv, web_argv, worker_argv
    from img2vid.cli.supervised import Program, Supervisor

    if args.workers < 1:
        raise UpError(f"--workers must be 1 or more, got {args.workers}", code="bad_workers")
    _check_port_free(args.port)
    settings = Settings.from_env()
    for line in settings.renamed_variables():
        print(f"img2vid up: {line}", file=sys.stderr)
    data = Path(args.data or settings.data_dir).resolve()
    (data / "inputs").mkdir(parents=True, exist_ok=True)

    programs = []
    redis_url = settings.redis_url if "redis_url" in settings.model_fields_set else None
    if redis_url is None:
        # Append-only under DATA_DIR: jobs queued or handed back when `up` stops are
        # there again when it starts on the same folder.
        valkey_dir = data / ".valkey"
        valkey_dir.mkdir(exist_ok=True)
        port = free_port()
        try:
            programs.append(Program("valkey", redis_argv(port, valkey_dir, appendonly=True), "valkey", VALKEY))
        except NoRedisServerError as exc:
            raise UpError(str(exc), code="no_redis_server") from None
        redis_url = f"redis://127.0.0.1:{port}/0"
        where_redis = f"an embedded Valkey at {redis_url} keeping its data in {valkey_dir}"
    else:
        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            raise UpError(
                f"cannot reach Redis at IMG2VID_REDIS_URL={redis_url}: {exc}", code="redis_unavailable"
            ) from None
        where_redis = f"Redis at {redis_url}"
    for i in range(1, args.workers + 1):
        programs.append(Program(f"worker{i}", worker_argv(f"worker{i}", settings.queue), "app", APP))
    programs.append(Program("web", web_argv(args.port), "app", APP))

    # Every process reads the same settings: pass on the ones `up` decides.
    env = {
        **os.environ,
        "IMG2VID_DATA_DIR": str(data),
        "IMG2VID_REDIS_URL": redis_url,
        "IMG2VID_KEY_PREFIX": settings.key_prefix,
        "IMG2VID_QUEUE": settings.queue,
    }
    sup = Supervisor(programs, data / "logs", env)
    url = f"http://127.0.0.1:{args.port}"
    # SIGTERM and SIGHUP stop everything just as Ctrl-C does. supervisord and its
    # programs run outside the terminal's process group: only `up` hears Ctrl-C.
    previous = {sig: signal.signal(sig, _interrupt) for sig in _STOP_SIGNALS}
    try:
        sup.start()
        if "valkey" in {p.group for p in programs}:
            sup.start_group("valkey")
            _await(
                sup, lambda: redis.Redis.from_url(redis_url, socket_connect_timeout=0.2).ping(), 15, "Valkey to answer"
            )
        sup.start_group("app")
        _await(
            sup, lambda: urllib.request.urlopen(f"{url}/healthz", timeout=1).status == 200, 30, f"the web app on {url}"
        )
        _await(sup, lambda: ready_workers(url) >= args.workers, 60, f"{args.workers} worker(s) to report in")
        plural = "s" if args.workers != 1 else ""
        print(
            f"img2vid up: listening on {url} with {args.workers} worker{plural}; data in {data} "
            f"(frames for --remote jobs go in {data / 'inputs'}), logs in {sup.log_dir}, {where_redis}; "
            "Ctrl-C stops it",
            flush=True,
        )
        while True:
            time.sleep(WATCH_SECONDS)
            failure = sup.failure()
            if failure:
                raise UpError(f"{failure}; stopped the rest", code="process_exited")
    except KeyboardInterrupt:
        print("img2vid up: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        # Let nothing interrupt the shutdown; supervisord escalates to SIGKILL by itself.
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        sup.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _await(sup, check, timeout: float, what: str) -> None:
    """Wait for ``check`` while every started program runs; a part that exits first is a
    failed start, named with its log."""
    from img2vid.cli.processes import wait_until

    failure = None

    def ready():
        nonlocal failure
        failure = sup.failure(" before the system was ready")
        return failure or check()

    try:
        wait_until(ready, timeout, what)
    except TimeoutError as exc:
        raise UpError(f"{exc}; see the logs in {sup.log_dir}", code="start_failed") from None
    if failure:
        raise UpError(failure, code="start_failed")


def _check_port_free(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UpError(f"port {port} is taken ({exc.strerror}); pass --port", code="port_in_use") from None
