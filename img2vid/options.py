"""Encoding options and the rules that make them valid.

The CLI, the HTTP API and the engine all validate through these functions, so a value is
refused with the same code and words wherever it comes from.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .codecs import DEFAULT_CODEC, get_codec
from .errors import BadFitError, BadFpsError, BadSizeError

MAX_FPS = 240.0
DEFAULT_FPS = 5.0
FITS = ("contain", "cover", "stretch")
DEFAULT_FIT = "contain"
DEFAULT_MAX_PIXELS = 50_000_000
# Larger than any real display; stops "100000x100000" long before the pixel limit is read.
MAX_SIDE = 16384

_SIZE = re.compile(r"^\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*$")


def parse_fps(value: object) -> float:
    try:
        fps = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadFpsError(f"fps must be a number, got {value!r}") from None
    if not math.isfinite(fps) or fps <= 0 or fps > MAX_FPS:
        raise BadFpsError(f"fps must be above 0 and at most {MAX_FPS:g}, got {value!r}")
    return fps


def parse_size(value: object) -> tuple[int, int] | None:
    if value is None or value == "":
        return None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        text = f"{value[0]}x{value[1]}"
    else:
        text = str(value)
    m = _SIZE.match(text)
    if not m:
        raise BadSizeError(f"size must look like 1920x1080, got {value!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (2 <= w <= MAX_SIDE and 2 <= h <= MAX_SIDE):
        raise BadSizeError(f"size sides must be between 2 and {MAX_SIDE} pixels, got {w}x{h}")
    return w, h


def parse_fit(value: object) -> str:
    fit = str(value if value is not None else DEFAULT_FIT).strip().lower()
    if fit not in FITS:
        raise BadFitError(f"fit must be one of {', '.join(FITS)}, got {value!r}")
    return fit


@dataclass(frozen=True)
class EncodeOptions:
    """What to make of the frames; every field already validated."""

    fps: float = DEFAULT_FPS
    codec: str = DEFAULT_CODEC
    size: tuple[int, int] | None = None
    fit: str = DEFAULT_FIT
    skip_bad_frames: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def build(
        cls,
        *,
        fps: object = DEFAULT_FPS,
        codec: object = DEFAULT_CODEC,
        size: object = None,
        fit: object = DEFAULT_FIT,
        skip_bad_frames: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> "EncodeOptions":
        return cls(
            fps=parse_fps(fps),
            codec=get_codec(str(codec) if codec is not None else DEFAULT_CODEC).name,
            size=parse_size(size),
            fit=parse_fit(fit),
            skip_bad_frames=bool(skip_bad_frames),
            max_pixels=int(max_pixels),
        )
