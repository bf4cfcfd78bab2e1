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
from typing import Any, ClassVar

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import EnvSettingsSource, SettingsConfigDict

from img2vid.engine.options import DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_PIXELS
from img2vid.errors import ConfigError, invalid
from img2vid.settings.storage import StorageSettings
from img2vid.settings.variables import PREFIX, FileVariables, Secret, explain, renamed, variables

DAY = 86_400


class Settings(StorageSettings):
    """What every process reads (the storage settings in img2vid/settings/storage.py)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True, populate_by_name=True)
    # Fields whose empty value means something ("off"); any other empty variable is unset.
    _EMPTY_MEANS_OFF: ClassVar[frozenset[str]] = frozenset()

    redis_url: Secret = Field(
        "redis://127.0.0.1:6379/0", validation_alias=renamed("REDIS_URL"), json_schema_extra={"secret": True}
    )
    # The shared volume: inputs/ (read-only input root), uploads/<job>, outputs/<job>;
    # in the S3 mode only web's own files (its development session key).
    data_dir: Path = Field(Path("data"), validation_alias=renamed("DATA_DIR"))
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
            FileVariables(settings_cls),
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
            raise ConfigError("; ".join(explain(cls, e) for e in exc.errors(include_url=False))) from None

    def renamed_variables(self) -> list[str]:
        """A line for each old variable name this process was given instead of the new one."""
        lines = []
        for name, field in type(self).model_fields.items():
            names = variables(name, field)
            if len(names) > 1 and not os.environ.get(names[0]) and os.environ.get(names[1]):
                lines.append(f"{names[1]} is read as {names[0]}, its new name; rename it (the old name will go)")
        return lines
