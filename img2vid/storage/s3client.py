"""Talking to an S3-compatible store through boto3: the client, its errors in the
service's words, and patience while the store is away.

boto3 signs, retries throttling and pools connections; what is ours is which of its
errors mean "come back later" (retried with backoff by a worker mid-job, for up to
IMG2VID_S3_RETRY_SECONDS, while its lease holds) and which mean "this will never work"
(wrong credentials, no such bucket: the job fails at once, web answers 503).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import boto3
import botocore.exceptions as bx
from botocore.config import Config

from img2vid import logs
from img2vid.errors import CancelledError, StorageDeniedError, StorageUnavailableError
from img2vid.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AllAccessDisabled"}
)
_NO_BUCKET = frozenset({"NoSuchBucket"})
NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})


def make_client(s: Settings, *, connect_timeout: float = 3, read_timeout: float = 30, pool: int = 32):
    session = boto3.session.Session(
        aws_access_key_id=s.aws_access_key_id or None,
        aws_secret_access_key=s.aws_secret_access_key or None,
        region_name=s.s3_region or None,
    )
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=pool,
        # Throttling and 5xx a few times; an outage longer than that is ours to wait out.
        retries={"mode": "standard", "max_attempts": 3},
        # Self-hosted stores (SeaweedFS among them) serve buckets by path, not by name.
        s3={"addressing_style": "path" if s.s3_endpoint_url else "auto"},
        signature_version="s3v4",
        # A frame's bytes are checked by decoding them; a CRC of every GET costs the
        # worker CPU its encoder needs (uploads keep boto3's checksums).
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=s.s3_endpoint_url or None, config=config)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, bx.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND


def _status(exc: bx.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def translate(exc: BaseException, where: str) -> Exception:
    """The service's error for a boto error; ``where`` names the bucket and endpoint."""
    code = error_code(exc)
    if code in _DENIED or (isinstance(exc, bx.ClientError) and _status(exc) == 403):
        return StorageDeniedError(f"the object store refused the service's credentials for {where} ({code or 403})")
    # Object calls handle their own 404 (a missing frame, a gone video): one that
    # reaches here is the bucket's (a HEAD's answer has no code, only the status).
    if code in _NO_BUCKET or (isinstance(exc, bx.ClientError) and _status(exc) == 404):
        return StorageUnavailableError(f"{where} does not exist; create it, or set IMG2VID_S3_BUCKET")
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return StorageDeniedError(
            f"no credentials for {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile or role)"
        )
    if isinstance(exc, bx.ClientError):
        said = exc.response.get("Error", {}).get("Message", "")
        return StorageUnavailableError(f"{where} answered {code or _status(exc)}: {said}")
    return StorageUnavailableError(f"{where} cannot be reached ({type(exc).__name__})")


def transient(exc: BaseException) -> bool:
    """An error that the store coming back would cure: no answer, or a 5xx/429."""
    if isinstance(exc, bx.ClientError):
        return _status(exc) >= 500 or _status(exc) == 429 or error_code(exc) in ("SlowDown", "RequestTimeout")
    return isinstance(exc, bx.BotoCoreError | ConnectionError | TimeoutError) and not isinstance(
        exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.ParamValidationError
    )


class Patience:
    """Retries a store call on transient errors with exponential backoff and jitter,
    for up to ``seconds`` (0: once). ``stop()`` is the run's: True raises CancelledError,
    whose reason the run knows; ``abandon`` is set when the encode stopped anyway."""

    def __init__(self, seconds: float, where: str) -> None:
        self.seconds, self.where = seconds, where

    def call(
        self,
        fn: Callable[[], T],
        stop: Callable[[], bool] | None = None,
        abandon: threading.Event | None = None,
    ) -> T:
        deadline = time.monotonic() + self.seconds
        delay, tries = 0.2, 0
        while True:
            try:
                result = fn()
                if tries:
                    logs.event(log, "storage_back", f"{self.where} answers again after {tries} retries", tries=tries)
                return result
            except (bx.BotoCoreError, bx.ClientError, ConnectionError, TimeoutError) as exc:
                if not transient(exc) or time.monotonic() + delay > deadline:
                    raise translate(exc, self.where) from None
                last = exc
                if not tries:
                    logs.event(
                        log,
                        "storage_retry",
                        f"{translate(exc, self.where)}; retrying for up to {self.seconds:g} s",
                        level=logging.WARNING,
                    )
                tries += 1
            # Sleep in small steps: a cancel, or a stop of the encode, is seen within 0.1 s.
            until = time.monotonic() + delay * random.uniform(0.5, 1.0)
            while time.monotonic() < until:
                if abandon is not None and abandon.is_set():
                    raise translate(last, self.where) from None
                if stop is not None and stop():  # the run's reason (cancel, hand back) decides
                    raise CancelledError(f"stopped while waiting for {self.where}")
                time.sleep(0.1)
            delay = min(delay * 2, 5.0)


def create_bucket(s: Settings) -> bool:
    """Create the settings' bucket if it is not there (``up`` and the tests do; a
    deployment's bucket is the operator's). True when it was made."""
    client = make_client(s)
    try:
        client.head_bucket(Bucket=s.s3_bucket)
        return False
    except bx.ClientError as exc:
        if _status(exc) != 404 and error_code(exc) not in _NO_BUCKET | NOT_FOUND:
            raise translate(exc, f"bucket {s.s3_bucket!r}") from None
    client.create_bucket(Bucket=s.s3_bucket)
    return True
