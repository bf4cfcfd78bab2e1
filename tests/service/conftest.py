"""The real system for service tests: Redis, a `celery worker` process, gunicorn.

Tests use DB 13 of the machine's Redis (REDIS_URL_TESTS to change it), their own key
prefix and queue, and clean up what they wrote; the Redis-outage tests start a private
redis-server instead.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis

from img2vid.testing import Stack

from servicetools import TEST_REDIS, Service, forget_keys

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
        "IMG2VID_REDIS_URL": TEST_REDIS,
        "IMG2VID_DATA_DIR": str(data),
        "IMG2VID_KEY_PREFIX": prefix,
        # Outside the store's prefix, so it can never meet one of the store's keys.
        "IMG2VID_QUEUE": f"q-{prefix}",
        **LIMITS,
        # The rate limiter runs on every request (its counts under the prefix) but never
        # refuses: these tests poll and create jobs faster than any person. test_access.py
        # tests the limits on a web process of its own.
        "IMG2VID_RATE_LIMIT": "100000 per minute",
        "IMG2VID_RATE_LIMIT_CREATE": "100000 per minute",
        # Event streams beat often enough for a test to see it.
        "IMG2VID_EVENTS_HEARTBEAT_SECONDS": "0.5",
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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from browsertools import CHROMIUM, CHROMIUM_ARGS

    assert Path(CHROMIUM).exists(), "the page tests need Debian's chromium: apt-get install chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, service):
    """A page on the service; it fails the test if anything loads from another origin."""
    context = browser.new_context(base_url=service.url, viewport={"width": 1100, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    # Every asset must come from the web container itself: no CDN.
    pg.foreign = []
    pg.on("request", lambda r: r.url.startswith((service.url, "data:", "blob:")) or pg.foreign.append(r.url))
    yield pg
    assert pg.foreign == [], f"the page loaded assets from elsewhere: {pg.foreign}"
    context.close()
