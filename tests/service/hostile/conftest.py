"""The hostile-input tests: a system of their own (real gunicorn, a real `celery worker`,
the machine's Redis) that is sent what an attacker or a careless client sends.

Every request goes through ``Hostile.request``, which keeps its status; any answer in
4xx is one bad input, counted once however often it is sent. When the last test of the
folder is done, ``audit`` asserts that no answer was a 5xx and that the logs of web and
worker hold no 5xx request line and no traceback, and writes the counts to
test-artifacts/hostile-summary.json (the closing note of issue 12 quotes them).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from img2vid.testing import Stack

from hostiletools import ALICE, BOB, ROOT
from servicetools import TEST_REDIS, Service, forget_keys

LOGS = Path("test-artifacts/logs/hostile")
SUMMARY = Path("test-artifacts/hostile-summary.json")

# Small limits, so that each can be crossed with small inputs.
LIMITS = {
    "IMG2VID_MAX_FRAMES": "2000",
    "IMG2VID_MAX_REQUEST_BYTES": str(64 * 1024**2),
    "IMG2VID_MAX_FRAME_BYTES": str(2 * 1024**2),
    "IMG2VID_MAX_ZIP_ENTRIES": "2500",
    "IMG2VID_MAX_ZIP_BYTES": str(64 * 1024**2),
    "IMG2VID_MAX_BATCH": "50",
    "IMG2VID_RATE_LIMIT": "1000000 per minute",
    "IMG2VID_RATE_LIMIT_CREATE": "1000000 per minute",
}


@dataclass
class Ledger:
    """What the tests sent and what came back."""

    bad_inputs: set[str] = field(default_factory=set)
    answers: int = 0
    server_errors: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        """A bad input that is not an HTTP request (a setting, a file a worker reads)."""
        self.bad_inputs.add(what)


@dataclass
class Hostile(Service):
    """A service whose every answer is kept in the ledger, and checked for leaks."""

    ledger: Ledger = field(default_factory=Ledger)

    def request(self, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
        status, h, payload = super().request(method, path, body, headers, raw)
        self.ledger.answers += 1
        sent = json.dumps(body, sort_keys=True).encode() if body is not None else (raw or b"")
        if 400 <= status < 500:
            header_part = json.dumps(sorted((headers or {}).items()))
            key = f"{method} {path.split('?')[0] if status == 404 else path} {header_part}"
            self.ledger.bad_inputs.add(key + hashlib.sha256(sent).hexdigest())
        if status >= 500:
            self.ledger.server_errors.append(f"{method} {path} -> {status}")
        text = json.dumps(payload) if isinstance(payload, (dict, list)) else ""
        # An error names the client's file or folder, never the server's paths or Redis.
        for secret in (str(self.data), str(self.data.resolve()), "127.0.0.1:6379", "redis://"):
            assert secret not in text, f"{method} {path} answered with a server detail: {text[:300]}"
        return status, h, payload


@dataclass
class System:
    open: Hostile  # API_TOKENS unset
    guarded: Hostile  # alice, bob, and root (admin)
    shipped: Hostile  # open, with the limits as shipped (not the small ones above)
    stack: Stack
    ledger: Ledger

    @property
    def inputs(self) -> Path:
        return self.open.inputs


@pytest.fixture(scope="package")
def hostile(tmp_path_factory) -> System:
    data = tmp_path_factory.mktemp("hostile")
    (data / "inputs").mkdir()
    prefix = f"img2vid-hostile-{uuid.uuid4().hex[:8]}:"
    env = {
        "IMG2VID_REDIS_URL": TEST_REDIS,
        "IMG2VID_DATA_DIR": str(data),
        "IMG2VID_KEY_PREFIX": prefix,
        "IMG2VID_QUEUE": f"q-{prefix}",
        **LIMITS,
    }
    if LOGS.exists():
        for old in LOGS.glob("*.log"):
            old.unlink()
    stack = Stack(data_dir=data, log_dir=LOGS, env=env)
    client = redis.Redis.from_url(TEST_REDIS)
    ledger = Ledger()
    try:
        stack.start_worker("worker")
        _, open_url = stack.start_web(name="web-open")
        _, guarded_url = stack.start_web(
            name="web-guarded", env={"IMG2VID_API_TOKENS": f"alice:{ALICE},bob:{BOB},root:{ROOT}:admin"}
        )
        _, shipped_url = stack.start_web(name="web-shipped", workers=1, env={name: "" for name in LIMITS})
        stack.wait_workers(open_url, 1)
        system = System(
            *(Hostile(url, data, stack, client, prefix, ledger=ledger) for url in (open_url, guarded_url, shipped_url)),
            stack,
            ledger,
        )
        yield system
    finally:
        stack.stop()
        forget_keys(client, prefix)
    audit(ledger)


def audit(ledger: Ledger) -> None:
    """No answer was a 5xx, and no log of web or worker shows one or a traceback."""
    logged_5xx, tracebacks = [], []
    for log in sorted(LOGS.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if '"traceback"' in line or "Traceback (most recent call last)" in line:
                tracebacks.append(f"{log.name}: {line[:300]}")
            if re.search(r'"event": "request".*"status": 5\d\d', line):
                logged_5xx.append(f"{log.name}: {line[:300]}")
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(
        json.dumps(
            {
                "distinct_bad_inputs": len(ledger.bad_inputs),
                "answers": ledger.answers,
                "answers_5xx": len(ledger.server_errors),
                "logged_5xx": len(logged_5xx),
                "tracebacks": len(tracebacks),
            },
            indent=2,
        )
    )
    assert ledger.server_errors == [], ledger.server_errors
    assert logged_5xx == [], logged_5xx[:5]
    assert tracebacks == [], tracebacks[:5]
