"""Settings from the environment, typed, with safe defaults (pydantic-settings).

Every variable of the project's own starts with ``IMG2VID_``. Four had no prefix before
and their old names still work, each with a line saying so: ``REDIS_URL``, ``DATA_DIR``,
``SECRET_KEY`` and ``API_TOKENS``. A setting that holds a secret (the Redis URL, the
session key, the API tokens) may instead be read from a file named by the variable
with ``_FILE`` after it (``IMG2VID_SECRET_KEY_FILE=/run/secrets/key``), as Docker's and
Kubernetes' secrets are handed over.

Each process reads the class made for it: ``Settings`` what every process reads (the
CLI too), ``WebSettings`` and ``WorkerSettings`` add what only one side reads. A wrong
value is refused with ``ConfigError``, naming every variable that is wrong, at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from img2vid.apitokens import ApiToken, parse_api_tokens
from img2vid.engine.options import DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_PIXELS
from img2vid.errors import ConfigError, invalid

DAY = 86_400
PREFIX = "IMG2VID_"
# A job past its time limit is failed from inside (it checks ten times a second); only
# if it has not stopped this much later is its worker process killed.
TIME_LIMIT_GRACE = 30
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _renamed(name: str) -> AliasChoices:
    """A variable that had no prefix: the new name first, the old one still read."""
    return AliasChoices(PREFIX + name, name)


class _FromFile:
    """A secret's ``NAME_FILE`` variable, read by the field's validator so that a file
    that cannot be read is reported with the other errors."""

    def __init__(self, variable: str, path: str, conflict: str | None) -> None:
        self.variable, self.path, self.conflict = variable, path, conflict

    def read(self) -> str:
        if self.conflict:
            raise invalid("bad_setting", f"set {self.conflict} or {self.variable}, not both")
        try:
            return Path(self.path).read_text().strip()
        except OSError as exc:
            raise invalid("bad_setting", f"{self.variable}: cannot read {self.path} ({exc.strerror})") from None


def _secret(value: Any) -> Any:
    return value.read() if isinstance(value, _FromFile) else value


Secret = Annotated[str, BeforeValidator(_secret)]


class _FileVariables(PydanticBaseSettingsSource):
    """``<VARIABLE>_FILE`` for each setting marked secret."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        names = variables(field_name, field)
        path = os.environ.get(f"{names[0]}_FILE")
        if not path:
            return None, field_name, False
        given = next((n for n in names if os.environ.get(n)), None)
        # Keyed as the environment's source keys it (a renamed setting by its new name).
        key = names[0] if field.validation_alias else field_name
        return _FromFile(f"{names[0]}_FILE", path, given), key, False

    def __call__(self) -> dict[str, Any]:
        found = {}
        for name, field in self.settings_cls.model_fields.items():
            if (field.json_schema_extra or {}).get("secret"):
                value, key, _ = self.get_field_value(field, name)
                if value is not None:
                    found[key] = value
        return found


def variables(field_name: str, field: FieldInfo) -> list[str]:
    """The variables a setting is read from, the current name first."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c) for c in alias.choices]
    return [PREFIX + field_name.upper()]


def _off_or_limit(value: Any) -> Any:
    # Set but empty, or "off", turns a rate limit off.
    return "" if isinstance(value, str) and value.strip().lower() in ("", "off") else value


class Settings(BaseSettings):
    """What every process reads."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True, populate_by_name=True)
    # Fields whose empty value means something ("off"); any other empty variable is unset.
    _EMPTY_MEANS_OFF: ClassVar[frozenset[str]] = frozenset()

    redis_url: Secret = Field(
        "redis://127.0.0.1:6379/0", validation_alias=_renamed("REDIS_URL"), json_schema_extra={"secret": True}
    )
    # The shared volume: inputs/ (read-only input root), uploads/<job>, outputs/<job>.
    data_dir: Path = Field(Path("data"), validation_alias=_renamed("DATA_DIR"))
    # Every Redis key the job store writes starts with this; Celery's own keys do not.
    key_prefix: str = "img2vid:"
    # Celery queue name, so two deployments (or test runs) can share one Redis.
    queue: str = "img2vid"
    retention_seconds: int = Field(7 * DAY, ge=0)
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1)
    max_frames: int = Field(10_000, ge=1)
    # Bytes in one frame file (an upload, a zip member, a file in an input folder):
    # far above any real frame, and checked before a byte of it is read or extracted.
    max_frame_bytes: int = Field(DEFAULT_MAX_FRAME_BYTES, ge=1)
    # 0 means one decode thread per core.
    decode_threads: int = Field(0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != "" or k in cls._EMPTY_MEANS_OFF}
        return data

    @model_validator(mode="after")
    def _queue_outside_the_prefix(self) -> Settings:
        # The Celery queue is a Redis key too; inside the store's prefix it could be
        # taken for one of the store's own keys.
        if self.queue.startswith(self.key_prefix):
            raise invalid(
                "bad_setting",
                f"IMG2VID_QUEUE ({self.queue!r}) must not start with IMG2VID_KEY_PREFIX ({self.key_prefix!r})",
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # A file variable first, so that one set beside its plain twin is refused, not
        # shadowed. Then the variables that are set and not empty, so that an empty new
        # name leaves the old one read (compose passes both); then the empty ones, which
        # turn a rate limit off and leave any other setting at its default.
        return (
            init_settings,
            _FileVariables(settings_cls),
            EnvSettingsSource(settings_cls, env_ignore_empty=True),
            env_settings,
        )

    @classmethod
    def from_env(cls, **overrides: Any):
        """The settings from the environment (``overrides`` win); ConfigError naming every
        variable that is wrong."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise ConfigError("; ".join(_explain(cls, e) for e in exc.errors(include_url=False))) from None

    def renamed_variables(self) -> list[str]:
        """A line for each old variable name this process was given instead of the new one."""
        lines = []
        for name, field in type(self).model_fields.items():
            names = variables(name, field)
            if len(names) > 1 and not os.environ.get(names[0]) and os.environ.get(names[1]):
                lines.append(f"{names[1]} is read as {names[0]}, its new name; rename it (the old name will go)")
        return lines


class WebSettings(Settings):
    """What the web app reads besides."""

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
    secret_key: Secret = Field("", validation_alias=_renamed("SECRET_KEY"), json_schema_extra={"secret": True})
    env: str = "development"
    # The tokens that may use the service; none means it is open to anyone who can
    # reach it. Never in repr: settings may be printed.
    api_tokens: Annotated[tuple[ApiToken, ...], NoDecode] = Field(
        (), validation_alias=_renamed("API_TOKENS"), json_schema_extra={"secret": True}, repr=False
    )
    # Requests per client (its token's name, else its address) to anything but the health
    # routes and static files, and job creations per client; "" turns one off. Counted
    # in Redis, so every web process shares them.
    rate_limit: Annotated[str, BeforeValidator(_off_or_limit)] = "50 per second"
    rate_limit_create: Annotated[str, BeforeValidator(_off_or_limit)] = "60 per minute"
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
        value = _secret(value)
        if not isinstance(value, str):
            return value
        try:
            return parse_api_tokens(value)
        except ValueError as exc:
            raise invalid("bad_setting", f"{_given_name(cls, 'api_tokens')}: {exc}") from None

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


class WorkerSettings(Settings):
    """What a worker reads besides."""

    # Seconds a job may run: then it fails with time_limit_exceeded and is not run
    # again. Its worker process is killed TIME_LIMIT_GRACE seconds later if still busy.
    task_time_limit: int = Field(3_600, ge=1)
    # A running job's lease: renewed every lease/5 s by its run; when it has ended, the
    # job's worker is taken for dead and another worker may take the job.
    lease_seconds: float = Field(10.0, ge=0.5)
    # How often each worker beats, and (one at a time) looks for jobs whose lease ended.
    heartbeat_seconds: float = Field(2.0, ge=0.1)
    # A job whose worker is lost this many times fails with worker_lost.
    max_worker_deaths: int = Field(3, ge=1)
    # A job queued this long while the broker's queue is empty lost its message (the web
    # process died between storing the job and sending it): it is sent again.
    resend_after_seconds: float = 120.0
    # One worker (whichever takes the Redis lock) sweeps expired jobs this often.
    sweep_seconds: float = Field(60.0, ge=0.01)
    # A job folder (uploads/ or outputs/) that no job record owns is removed once it has
    # not changed for this long: an upload being saved touches its folder every file.
    orphan_seconds: int = Field(3_600, ge=0)
    # Jobs one worker runs at once. One, so that `--scale worker=N` means N jobs at once,
    # each with every core's decode thread; `celery worker --concurrency` overrides it.
    worker_concurrency: int = Field(1, ge=1)


def _given_name(cls: type[Settings], field_name: str) -> str:
    """The variable this process set for a setting (an old name if that is what it used)."""
    names = variables(field_name, cls.model_fields[field_name])
    return next((n for n in names if os.environ.get(n) or os.environ.get(f"{n}_FILE")), names[0])


_WORDS = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
}


def _explain(cls: type[Settings], error: dict) -> str:
    """One wrong setting in the words of the variable a person set."""
    ctx = error.get("ctx") or {}
    if error["type"] == "bad_setting":
        return str(ctx["message"])
    field_name = str(error["loc"][0]) if error["loc"] else ""
    variable = _given_name(cls, field_name) if field_name in cls.model_fields else field_name
    given = error.get("input")
    if error["type"] in _WORDS:
        return f"{variable} {_WORDS[error['type']]}, got {given!r}"
    if error["type"] == "greater_than_equal":
        return f"{variable} must be at least {ctx['ge']:g}, got {given!r}"
    return f"{variable}: {error['msg']}, got {given!r}"
