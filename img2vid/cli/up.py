"""``img2vid up``: the whole system as local processes under supervisord (Valkey or the
Redis at IMG2VID_REDIS_URL; with ``--storage s3`` a SeaweedFS, or the store at
IMG2VID_S3_ENDPOINT_URL; Celery workers, gunicorn), until Ctrl-C or SIGTERM stops them all."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from img2vid.errors import Img2VidError, StorageDeniedError, StorageUnavailableError
from img2vid.settings import Settings

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WATCH_SECONDS = 0.5
# Valkey and SeaweedFS start first and supervisord stops them last: the workers hand
# their running jobs back through Valkey, and a job's video may be going up to the store
# as they stop. Workers and web stop together, so that Ctrl-C reaches a running job at
# once rather than after gunicorn's own stop; a job submitted meanwhile just waits in
# Valkey for the next start.
VALKEY, STORE, APP = 100, 150, 200
DEFAULT_BUCKET = "img2vid"
# SeaweedFS's files under DATA_DIR, and its identities file there (the key pair made at
# the first start, so that a later start on the same folder can read what it stored).
SEAWEEDFS_DIR, IDENTITIES = ".seaweedfs", "s3.json"
# Settings that would override or contradict the embedded store's key pair.
_OTHER_CREDENTIALS = (
    "AWS_ACCESS_KEY_ID_FILE",
    "AWS_SECRET_ACCESS_KEY_FILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
)


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
    settings = _settings(args.storage)
    for line in settings.renamed_variables():
        print(f"img2vid up: {line}", file=sys.stderr)
    data = Path(args.data or settings.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    if settings.storage == "local":
        (data / "inputs").mkdir(exist_ok=True)
    store = _store(settings, data)

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
    programs += store.programs
    for i in range(1, args.workers + 1):
        programs.append(Program(f"worker{i}", worker_argv(f"worker{i}"), "app", APP))
    programs.append(Program("web", web_argv(args.port), "app", APP))

    # Every process reads the same settings: pass on the ones `up` decides.
    env = {
        **os.environ,
        "IMG2VID_DATA_DIR": str(data),
        "IMG2VID_REDIS_URL": redis_url,
        "IMG2VID_KEY_PREFIX": settings.key_prefix,
        "IMG2VID_QUEUE": settings.queue,
    }
    for name in store.unset:
        env.pop(name, None)
    env.update(store.env)
    sup = Supervisor(programs, data / "logs", env)
    url = f"http://127.0.0.1:{args.port}"
    # SIGTERM and SIGHUP stop everything just as Ctrl-C does. supervisord and its
    # programs run outside the terminal's process group: only `up` hears Ctrl-C.
    previous = {sig: signal.signal(sig, _interrupt) for sig in _STOP_SIGNALS}
    try:
        sup.start()
        groups = {p.group for p in programs}
        # Both before the app, at once: SeaweedFS takes a few seconds to answer.
        for group in ("valkey", "seaweedfs"):
            if group in groups:
                sup.start_group(group)
        if "valkey" in groups:
            _await(
                sup, lambda: redis.Redis.from_url(redis_url, socket_connect_timeout=0.2).ping(), 15, "Valkey to answer"
            )
        if store.ready is not None:
            store.ready(sup)
        sup.start_group("app")
        _await(
            sup, lambda: urllib.request.urlopen(f"{url}/healthz", timeout=1).status == 200, 30, f"the web app on {url}"
        )
        _await(sup, lambda: ready_workers(url) >= args.workers, 60, f"{args.workers} worker(s) to report in")
        plural = "s" if args.workers != 1 else ""
        print(
            f"img2vid up: listening on {url} with {args.workers} worker{plural}; data in {data} "
            f"(frames for --remote jobs go in {store.inputs}), logs in {sup.log_dir}, {where_redis}"
            f"{store.where}; Ctrl-C stops it",
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


def _settings(storage: str | None) -> Settings:
    """Every process's settings, with the storage ``--storage`` names (else
    IMG2VID_STORAGE's, else local) and, for s3, the bucket ``img2vid`` unless
    IMG2VID_S3_BUCKET names another."""
    overrides = {}
    if storage:
        overrides["storage"] = storage
    chosen = storage or os.environ.get("IMG2VID_STORAGE", "").strip().lower()
    if chosen == "s3" and not os.environ.get("IMG2VID_S3_BUCKET"):
        overrides["s3_bucket"] = DEFAULT_BUCKET
    return Settings.from_env(**overrides)


@dataclass
class _Store:
    """Where job files go, as `up` runs it: programs to start, settings to hand on,
    a readiness wait, and words for the "listening" line."""

    inputs: str  # where frames for --remote jobs go
    env: dict[str, str]
    programs: list = field(default_factory=list)
    unset: tuple[str, ...] = ()
    where: str = ""  # after the Redis part of the line
    ready: object = None  # ready(sup): wait until the store answers


def _store(settings: Settings, data: Path) -> _Store:
    if settings.storage == "local":
        return _Store(str(data / "inputs"), {"IMG2VID_STORAGE": "local"})
    inputs = f"s3://{settings.s3_bucket}/{settings.s3_prefix}inputs/"
    if settings.s3_endpoint_url:
        return _given_store(settings, inputs)
    return _embedded_store(settings, data, inputs)


def _given_store(settings: Settings, inputs: str) -> _Store:
    """The store at IMG2VID_S3_ENDPOINT_URL, used as it is: reachable, its bucket there."""
    from img2vid.storage import open_storage

    endpoint = settings.s3_endpoint_url
    try:
        open_storage(settings).check()
    except (StorageUnavailableError, StorageDeniedError) as exc:
        raise UpError(f"cannot use the object store at IMG2VID_S3_ENDPOINT_URL: {exc.message}", code=exc.code) from None
    env = {"IMG2VID_STORAGE": "s3", "IMG2VID_S3_ENDPOINT_URL": endpoint, "IMG2VID_S3_BUCKET": settings.s3_bucket}
    return _Store(f"{inputs} at {endpoint}", env, where=f", bucket {settings.s3_bucket!r} at {endpoint}")


def _embedded_store(settings: Settings, data: Path, inputs: str) -> _Store:
    """A SeaweedFS of its own, its data and key pair under DATA_DIR/.seaweedfs."""
    from img2vid.cli.processes import (
        NoObjectStoreError,
        free_port,
        weed_argv,
        weed_env,
        weed_identities,
        weed_keys,
        weed_master_url,
        weed_volumes_ready,
    )
    from img2vid.cli.supervised import Program
    from img2vid.storage.s3client import create_bucket

    wdir = data / SEAWEEDFS_DIR
    identities = wdir / IDENTITIES
    port = free_port()
    try:
        argv = weed_argv(wdir, port, identities)
    except NoObjectStoreError as exc:
        raise UpError(str(exc), code="no_object_store") from None
    wdir.mkdir(mode=0o700, exist_ok=True)
    if identities.exists():
        try:
            access_key, secret_key = weed_keys(identities)
        except (OSError, ValueError, LookupError, TypeError) as exc:
            raise UpError(
                f"cannot read the store's key pair from {identities} ({type(exc).__name__}); "
                "remove the file only if the store's data may go with it",
                code="bad_store_keys",
            ) from None
        identities.chmod(0o600)  # left as it is otherwise: it may hold more identities
    else:
        access_key, secret_key = f"img2vid-{secrets.token_hex(8)}", secrets.token_urlsafe(30)
        weed_identities(identities, access_key, secret_key)
    endpoint = f"http://127.0.0.1:{port}"
    env = weed_env(endpoint, settings.s3_bucket, access_key, secret_key)
    s3 = settings.model_copy(
        update={
            "s3_endpoint_url": endpoint,
            "s3_region": env["IMG2VID_S3_REGION"],
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
        }
    )
    master = weed_master_url(argv)

    def ready(sup) -> None:
        denied = None

        def answers() -> bool:
            nonlocal denied
            try:
                create_bucket(s3)  # made at the first start; there already after that
            except StorageDeniedError as exc:
                denied = exc  # will never pass: say so now
                return True
            return weed_volumes_ready(master, wdir)

        _await(sup, answers, 60, f"SeaweedFS's S3 API on {endpoint}")
        if denied is not None:
            raise UpError(f"SeaweedFS refused the key pair in {identities}: {denied.message}", code=denied.code)

    return _Store(
        f"{inputs} at {endpoint}",
        env,
        [Program("seaweedfs", argv, "seaweedfs", STORE)],
        unset=_OTHER_CREDENTIALS,
        where=f", an embedded SeaweedFS at {endpoint} keeping its data and key pair in {wdir}",
        ready=ready,
    )


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
