"""The web process's settings, checked whole before anything starts.

gunicorn's master checks them once (web/gunicorn_conf.py's ``on_starting``), before it
binds the port or boots a worker: a bad setting is one line and a non-zero exit, never
workers booted and failing forever while the port hangs.
"""

from __future__ import annotations

from limits import parse_many

from img2vid import logs
from img2vid.errors import ConfigError
from img2vid.settings import Settings


def load_settings() -> Settings:
    """Settings from the environment, with what only the web side reads checked too;
    ConfigError names the first variable that is wrong."""
    settings = Settings.from_env()
    logs.level_of(settings.log_level)
    for variable, value in (("IMG2VID_RATE_LIMIT", settings.rate_limit),
                            ("IMG2VID_RATE_LIMIT_CREATE", settings.rate_limit_create)):
        if value:
            check_rate_limit(variable, value)
    if settings.production and not settings.secret_key:
        raise ConfigError("SECRET_KEY must be set when IMG2VID_ENV=production")
    return settings


def check_rate_limit(variable: str, value: str) -> str:
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{variable} must be a rate limit such as '50 per second' or '600/minute' "
                          f"(or 'off'), got {value!r}") from None
    return value
