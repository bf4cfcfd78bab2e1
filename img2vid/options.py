"""Encoding options and the rules that make them valid.

The CLI, the HTTP API and the engine all validate through these functions, so a value is
refused with the same code and words wherever it comes from.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .codecs import DEFAULT_CODEC, check_size, get_codec
from .errors import BadFitError, BadFpsError, BadSizeError, shown

MAX_FPS = 240.0
# A frame shown for at most 100 s: below this a video's duration is no longer a number
# anyone means (fps of 1e-300 made it Infinity, which is not even JSON).
MIN_FPS = 0.01
DEFAULT_FPS = 5.0
FITS = ("contain", "cover", "stretch")
DEFAULT_FIT = "contain"
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_FRAME_BYTES = 256 * 1024**2
# Larger than any real display; stops "100000x100000" long before the pixel limit is read.
MAX_SIDE = 16384

_SIZE = re.compile(r"^\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*$")


def parse_fps(value: object) -> float:
    # true is not a frame rate, though Python would take it for 1.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadFpsError(f"fps must be a number, got {shown(value)}")
    try:
        fps = float(value)
    except (ValueError, OverflowError):  # OverflowError: an integer of 400 digits
        raise BadFpsError(f"fps must be a number, got {shown(value)}") from None
    if not math.isfinite(fps) or fps < MIN_FPS or fps > MAX_FPS:
        raise BadFpsError(f"fps must be from {MIN_FPS:g} to {MAX_FPS:g}, got {shown(value)}")
    return fps


def parse_size(value: object) -> tuple[int, int] | None:
    if value is None or value == "":
        return None
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(type(v) is int for v in value):
        text = f"{value[0]}x{value[1]}"
    elif isinstance(value, str):
        text = value
    else:
        raise BadSizeError(f"size must look like 1920x1080, got {shown(value)}")
    m = _SIZE.match(text)
    if not m:
        raise BadSizeError(f"size must look like 1920x1080, got {shown(value)}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (2 <= w <= MAX_SIDE and 2 <= h <= MAX_SIDE):
        raise BadSizeError(f"size sides must be between 2 and {MAX_SIDE} pixels, got {w}x{h}")
    return w, h


def parse_fit(value: object) -> str:
    fit = (value if value is not None else DEFAULT_FIT)
    if not isinstance(fit, str) or fit.strip().lower() not in FITS:
        raise BadFitError(f"fit must be one of {', '.join(FITS)}, got {shown(value)}")
    return fit.strip().lower()


@dataclass(frozen=True)
class EncodeOptions:
    """What to make of the frames; every field already validated."""

    fps: float = DEFAULT_FPS
    codec: str = DEFAULT_CODEC
    size: tuple[int, int] | None = None
    fit: str = DEFAULT_FIT
    skip_bad_frames: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES

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
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> "EncodeOptions":
        chosen = get_codec(codec if codec is not None else DEFAULT_CODEC)
        wanted = parse_size(size)
        if wanted:
            check_size(chosen, wanted, int(max_pixels))
        return cls(
            fps=parse_fps(fps),
            codec=chosen.name,
            size=wanted,
            fit=parse_fit(fit),
            skip_bad_frames=bool(skip_bad_frames),
            max_pixels=int(max_pixels),
            max_frame_bytes=int(max_frame_bytes),
        )
