"""The real system for service tests: Redis, a `celery worker` process, gunicorn.

Tests use DB 13 of the machine's Redis (REDIS_URL_TESTS to change it), their own key
prefix and queue, and clean up what they wrote; the Redis-outage tests start a private
redis-server instead.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import redis

from img2vid.stack import Stack
from servicetools import Service, forget_keys

TEST_REDIS = os.environ.get("REDIS_URL_TESTS", "redis://127.0.0.1:6379/13")

# Small limits so that every limit can be crossed with small files.
LIMITS = {
    "IMG2VID_MAX_REQUEST_BYTES": str(8 * 1024 * 1024),
    "IMG2VID_MAX_FRAMES": "400",
    "IMG2VID_MAX_PIXELS": str(4_000_000),  # heavy test frames are 1920x1080
    "IMG2VID_MAX_ZIP_ENTRIES": "450",
    "IMG2VID_MAX_ZIP_BYTES": str(16 * 1024 * 1024),
    "IMG2VID_MAX_BATCH": "1000",
}


@pytest.fixture(scope="session")
def service(tmp_path_factory) -> Service:
    data = tmp_path_factory.mktemp("volume")
    (data / "inputs").mkdir()
    prefix = f"img2vid-test-{uuid.uuid4().hex[:8]}:"
    env = {
        "REDIS_URL": TEST_REDIS, "DATA_DIR": str(data), "IMG2VID_KEY_PREFIX": prefix,
        # Outside the store's prefix, so it can never meet one of the store's keys.
        "IMG2VID_QUEUE": f"q-{prefix}", **LIMITS,
        # The rate limiter runs on every request (its counts under the prefix) but never
        # refuses: these tests poll and create jobs faster than any person. test_access.py
        # tests the limits on a web process of its own.
        "IMG2VID_RATE_LIMIT": "100000 per minute", "IMG2VID_RATE_LIMIT_CREATE": "100000 per minute",
    }
    stack = Stack(data_dir=data, log_dir=Path("test-artifacts/logs"), env=env)
    client = redis.Redis.from_url(TEST_REDIS)
    try:
        stack.start_worker("worker1")
        _, url = stack.start_web()
        stack.wait_workers(url, 1)
        yield Service(url, data, stack, client, prefix)
    finally:
        stack.stop()
        forget_keys(client, prefix)
