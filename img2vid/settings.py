"""Settings read from the environment, with safe defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .options import DEFAULT_MAX_PIXELS


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    max_pixels: int
    # 0 means one decode thread per core.
    decode_threads: int

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            max_pixels=_int("IMG2VID_MAX_PIXELS", DEFAULT_MAX_PIXELS),
            decode_threads=_int("IMG2VID_DECODE_THREADS", 0),
        )
