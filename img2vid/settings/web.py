"""What the web app reads besides what every process does."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import NoDecode

from img2vid.apitokens import ApiToken, parse_api_tokens
from img2vid.errors import invalid
from img2vid.settings.variables import PREFIX, Secret, given_name, read_secret, renamed
from img2vid.settings.webhooks import WebhookSettings

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _off_or_limit(value: Any) -> Any:
    # Set but empty, or "off", turns a rate limit off.
    return "" if isinstance(value, str) and value.strip().lower() in ("", "off") else value


class WebSettings(WebhookSettings):
    """What the web app reads besides (the webhook settings: to accept a webhook_url)."""

    _EMPTY_MEANS_OFF: ClassVar[frozenset[str]] = frozenset({"rate_limit", "rate_limit_create"})

    max_request_bytes: int = Field(2 * 1024**3, ge=1)
    max_zip_entries: int = Field(20_000, ge=1)
    max_zip_bytes: int = Field(8 * 1024**3, ge=1)
    # How much a zip member may expand. Deflate cannot pass about 1,030:1 (a black BMP
    # reaches 1,021:1), so no deflated frame is refused; bzip2 and LZMA bombs are.
    max_zip_ratio: float = Field(1_100.0, ge=1)
    max_batch: int = Field(1_000, ge=1)
    # The jobs page warns when the data volume is fuller than this.
    disk_low_percent: float = 90.0
    log_level: str = "INFO"
    # Signs the web pages' session cookie (CSRF tokens). Required in production; in
    # development one is made and kept in the data folder.
    secret_key: Secret = Field("", validation_alias=renamed("SECRET_KEY"), json_schema_extra={"secret": True})
    env: str = "development"
    # The tokens that may use the service; none means it is open to anyone who can
    # reach it. Never in repr: settings may be printed.
    api_tokens: Annotated[tuple[ApiToken, ...], NoDecode] = Field(
        (), validation_alias=renamed("API_TOKENS"), json_schema_extra={"secret": True}, repr=False
    )
    # Requests per client (its token's name, else its address) to anything but the health
    # routes and static files, and job creations per client; "" turns one off. Counted
    # in Redis, so every web process shares them.
    rate_limit: Annotated[str, BeforeValidator(_off_or_limit)] = "50 per second"
    rate_limit_create: Annotated[str, BeforeValidator(_off_or_limit)] = "60 per minute"
    # An open event stream sends a comment line when it has been quiet this long, so
    # that proxies keep it open.
    events_heartbeat_seconds: float = Field(15.0, gt=0, le=300)
    # Event streams one web process keeps open at once; one more is answered 503 (an
    # EventSource tries again, the pages and the client fall back to polling), so the
    # threads beyond them (web/gunicorn_conf.py) always serve the API.
    max_event_streams: int = Field(200, ge=1)
    # Proxies in front of gunicorn whose X-Forwarded-For is believed (0: the peer address).
    trusted_proxies: int = Field(0, ge=0)

    @property
    def production(self) -> bool:
        return self.env.lower() == "production"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> str:
        if not isinstance(value, str) or value.strip().upper() not in LOG_LEVELS:
            raise invalid("bad_setting", f"IMG2VID_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return value.strip().upper()

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _tokens(cls, value: Any) -> Any:
        value = read_secret(value)
        if not isinstance(value, str):
            return value
        try:
            return parse_api_tokens(value)
        except ValueError as exc:
            raise invalid("bad_setting", f"{given_name(cls, 'api_tokens')}: {exc}") from None

    @field_validator("rate_limit", "rate_limit_create")
    @classmethod
    def _limit(cls, value: str, info: ValidationInfo) -> str:
        from limits import parse_many  # the web side's own dependency (Flask-Limiter's)

        if value:
            try:
                parse_many(value)
            except ValueError:
                raise invalid(
                    "bad_setting",
                    f"{PREFIX}{str(info.field_name).upper()} must be a rate limit such as "
                    f"'50 per second' or '600/minute' (or 'off'), got {value!r}",
                ) from None
        return value

    @model_validator(mode="after")
    def _secret_in_production(self) -> WebSettings:
        if self.production and not self.secret_key:
            raise invalid("bad_setting", "IMG2VID_SECRET_KEY must be set when IMG2VID_ENV=production")
        return self
