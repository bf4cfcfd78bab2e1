"""The JSON log line itself: one line per record, the job's id, and no secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from img2vid import logs
from img2vid.errors import ConfigError

SECRET_KEY = "s3cret-key-0123456789abcdef"
TOKEN = "tok-aaaaaaaaaaaaaaaaaaaa"
REDIS_PASSWORD = "pw-for-redis-9876"


@pytest.fixture
def capture(monkeypatch):
    """A logger whose records are formatted as the services format them, into a buffer."""
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("API_TOKENS", f"alice:{TOKEN},{TOKEN[::-1]}")
    monkeypatch.setenv("REDIS_URL", f"redis://:{REDIS_PASSWORD}@redis:6379/0")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter("test"))
    log = logging.getLogger(f"test-logs-{id(out)}")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False

    def lines() -> list[dict]:
        text = out.getvalue()
        assert text.endswith("\n")
        return [json.loads(line) for line in text.splitlines()]

    yield log, lines, out


def test_an_event_is_one_line_with_its_fields_and_the_job(capture):
    log, lines, _ = capture
    # when an event is logged inside a job's context, with fields, one named like a LogRecord attribute
    with logs.job_context("1a2b3c"):
        logs.event(
            log,
            "job_failed",
            "job failed:\nframe_7.jpg is truncated",
            code="unreadable_frame",
            filename="frame_7.jpg",
            worker=None,
        )
    logs.event(log, "after", "outside the job")
    # then it is one line each: time in UTC, level, logger, event, the job's id, the fields
    first, second = lines()
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert (first["level"], first["event"], first["job_id"], first["code"]) == (
        "info",
        "job_failed",
        "1a2b3c",
        "unreadable_frame",
    )
    assert first["message"] == "job failed:\nframe_7.jpg is truncated"
    assert first["filename_"] == "frame_7.jpg" and "worker" not in first  # None means unknown: left out
    assert first["service"] == "test" and first["pid"] > 0 and first["host"]
    assert "job_id" not in second


def test_an_exception_is_one_line_with_its_traceback(capture):
    log, lines, out = capture
    # when an exception is logged
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        log.exception("the encoder failed", extra={"job_id": "abc123"})
    # then it stays one line, the traceback in a field
    assert out.getvalue().count("\n") == 1
    (line,) = lines()
    assert line["error_type"] == "ZeroDivisionError" and "1 / 0" in line["traceback"]
    assert line["job_id"] == "abc123" and line["level"] == "error"


def test_secrets_never_reach_a_line(capture):
    log, lines, out = capture
    # when lines mention every kind of secret: a URL with a password, the session key,
    # API tokens (named and bare), an Authorization header, also inside fields and tracebacks
    log.info("connecting to redis://:%s@redis:6379/0 and amqp://user:hunter2pass@mq//", REDIS_PASSWORD)
    log.info("key %s, token %s, bare %s", SECRET_KEY, TOKEN, TOKEN[::-1])
    log.info(
        "headers",
        extra={"headers": {"Authorization": "Bearer unknown0123456789"}, "auth": "authorization: Basic dXNlcjpwYXNz"},
    )
    try:
        raise RuntimeError(f"cannot connect to redis://:{REDIS_PASSWORD}@redis")
    except RuntimeError:
        log.exception("failed")
    text = out.getvalue()
    # then none of them is written, and what is around them still is
    for secret in (REDIS_PASSWORD, SECRET_KEY, TOKEN, TOKEN[::-1], "hunter2pass", "unknown0123456789", "dXNlcjpwYXNz"):
        assert secret not in text, secret
    first, second, third, fourth = lines()
    assert first["message"] == "connecting to redis://:***@redis:6379/0 and amqp://user:***@mq//"
    assert second["message"] == "key ***, token ***, bare ***"
    assert third["headers"] == {"Authorization": "Bearer ***"} and third["auth"] == "authorization: Basic ***"
    assert "redis://:***@redis" in fourth["traceback"]
    # and prose that merely mentions a bearer token is left alone
    assert logs.Redactor([])("the bearer token is not valid") == "the bearer token is not valid"


def test_short_secrets_are_not_searched_for_by_value():
    # given compose's default Redis password, which is also the project's name
    found = logs.secrets_from_env(
        {
            "REDIS_PASSWORD": "img2vid",
            "SECRET_KEY": "long-enough-secret",
            "IMG2VID_KEY_PREFIX": "img2vid:",
            "REDIS_URL": "redis://:img2vid@redis:6379/0",
        }
    )
    # then only the long one is replaced wherever it appears; the short one only inside URLs
    assert found == ["long-enough-secret"]
    redact = logs.Redactor(found)
    assert redact("img2vid.tasks redis://:img2vid@redis") == "img2vid.tasks redis://:***@redis"


def test_an_admin_token_is_a_secret_without_its_suffix():
    # given API_TOKENS with an admin entry and a plain one
    found = logs.secrets_from_env({"API_TOKENS": "root:r00t-token-0123456789:admin,alice:alice-token-0123456789"})
    # then each token alone is blanked wherever it shows
    redact = logs.Redactor(found)
    assert redact("sent r00t-token-0123456789 and alice-token-0123456789") == "sent *** and ***"


def test_the_level_setting_is_checked():
    assert logs.level_of("warning") == logging.WARNING
    with pytest.raises(ConfigError, match="IMG2VID_LOG_LEVEL"):
        logs.level_of("LOUD")
