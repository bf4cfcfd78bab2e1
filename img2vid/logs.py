"""Logs as one JSON object per line, the same in the web app and the workers.

Every line has ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``, ``service``,
``host`` and ``pid``; an event of ours adds ``event`` (a stable name such as
``job_succeeded``) and its fields; ``job_id`` is added whenever the line concerns one job,
given as a field or bound for the duration of a request or a task (``job_context``).
An exception becomes ``error_type`` and a ``traceback`` field, still on one line.

Secrets never reach a line: the password of any URL (``redis://:pw@host``), an
``Authorization``/``Bearer`` value, and the values of SECRET_KEY, API tokens and any
setting named like a password, token or secret are replaced by ``***`` wherever they
appear. What we log are names and numbers: never a frame's bytes, nor a request body.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from urllib.parse import urlsplit

from .errors import ConfigError

# What every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_HOST = socket.gethostname()
_job_id: ContextVar[str | None] = ContextVar("img2vid_job_id", default=None)

# Secrets shorter than this are not searched for by value: a short one would blank out
# ordinary words (compose's default Redis password is "img2vid"). URL passwords and
# Authorization values are caught by their shape whatever their length.
MIN_SECRET_LENGTH = 8
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN)", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*):(?P<pw>[^@/\s]+)@", re.I)
# An Authorization header's value whatever it looks like; after a bare "Bearer" only what
# looks like a credential (8+ characters with a digit), so "the bearer token is not
# valid" stays readable.
_AUTH_VALUE = re.compile(
    r"(?P<head>\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)(?P<v>[^\s\"',;]+)"
    r"|(?P<bhead>\bbearer\s+)(?=[^\s\"',;]*\d)(?P<bv>[^\s\"',;]{8,})",
    re.I,
)


# --- the job a line is about -------------------------------------------------------


def bind_job(job_id: str | None) -> None:
    """Say which job the following lines are about (a web request's), until rebound."""
    _job_id.set(job_id)


def current_job() -> str | None:
    return _job_id.get()


@contextmanager
def job_context(job_id: str):
    """Lines logged inside are about ``job_id`` (a task's run). Threads started inside do
    not inherit it: pass ``job_id=`` to their lines."""
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


def event(
    logger: logging.Logger, name: str, message: str, *, level: int = logging.INFO, exc_info=None, **fields
) -> None:
    """Log the event ``name`` with its fields as JSON keys (None ones left out). A field
    named like a LogRecord attribute (``filename``, ``args``) gets a trailing underscore."""
    extra = {"event": name}
    for key, value in fields.items():
        if value is not None:  # absent means unknown
            extra[f"{key}_" if key in _STANDARD else key] = value
    logger.log(level, message, exc_info=exc_info, extra=extra)


# --- keeping secrets out -----------------------------------------------------------


def secrets_from_env(environ: dict[str, str] | None = None) -> list[str]:
    """The secret values this process knows: variables named like a password, token or
    secret (lists split on commas and spaces, ``name:token`` pairs split too), and the
    password of every URL it was given (REDIS_URL)."""
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        if not value:
            continue
        if _SECRET_NAME.search(name):
            for item in re.split(r"[,\s]+", value):
                found.add(item)
                # name:token, and name:token:admin (API_TOKENS): the token alone too.
                found.update(re.split(r"[:=]", item, maxsplit=1)[1:])
                found.update(re.split(r"[:=]", item)[1:])
        if "://" in value:
            for url in re.split(r"[,\s]+", value):
                try:
                    password = urlsplit(url).password
                except ValueError:
                    password = None
                if password:
                    found.add(password)
    return sorted((s for s in found if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)


class Redactor:
    def __init__(self, secrets: list[str]) -> None:
        # Each secret as it is, and as a JSON line holds it (quotes and backslashes
        # escaped): a line is redacted whole, once, rather than value by value.
        self._in_json = sorted({*secrets, *(json.dumps(s, ensure_ascii=False)[1:-1] for s in secrets)}, key=len)[::-1]

    def __call__(self, text: str) -> str:
        # The patterns only where they can match: a line is redacted on every request.
        if "://" in text:
            text = _URL_PASSWORD.sub(r"\g<head>:***@", text)
        lowered = text.lower()
        if "authorization" in lowered or "bearer" in lowered:
            text = _AUTH_VALUE.sub(lambda m: (m.group("head") or m.group("bhead")) + "***", text)
        for secret in self._in_json:
            if secret in text:
                text = text.replace(secret, "***")
        return text


# --- the line ----------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = "", redactor: Redactor | None = None) -> None:
        super().__init__()
        self.service = service
        self.redact = redactor or Redactor(secrets_from_env())

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        out: dict = {
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if "event" in record.__dict__:
            out["event"] = record.__dict__["event"]
        job_id = record.__dict__.get("job_id") or _job_id.get()
        if job_id:
            out["job_id"] = job_id
        out["message"] = record.getMessage()
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["error_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            out["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["traceback"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        out.update(service=self.service, host=_HOST, pid=record.process)
        return self.redact(json.dumps(out, ensure_ascii=False, default=str))


def level_of(name: str | int) -> int:
    """A level name (INFO, warning) or number; ConfigError naming IMG2VID_LOG_LEVEL otherwise."""
    if isinstance(name, int):
        return name
    level = logging.getLevelName(str(name).upper())
    if not isinstance(level, int):
        raise ConfigError(f"IMG2VID_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {name!r}")
    return level


def setup(service: str, level: str | int = "INFO", stream=None) -> logging.Handler:
    """Send this process's log records (the root logger's) to stderr as JSON lines.
    Calling it again replaces the handler it added; handlers others added stay."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_img2vid", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler._img2vid = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level_of(level))
    # warnings.warn(...) becomes a line too, rather than bare text on stderr.
    logging.captureWarnings(True)
    return handler
