"""Encoding options: what to make of the frames, and the rules that make a value valid.

The value types here (``Fps``, ``CodecName``, ``Size``, ``Fit``) carry their rules as
validators that refuse with the stable error codes, so the job spec (img2vid/job.py)
and ``EncodeOptions`` refuse a value with the same code and words wherever it comes
from: the CLI, a JSON body or a form.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from img2vid.engine.codecs import CODECS, DEFAULT_CODEC, size_problem, unknown_codec_message
from img2vid.errors import from_validation, invalid, shown

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

_SIZE = re.compile(r"\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*")


def _fps(value: object) -> float:
    # true is not a frame rate, though Python would take it for 1.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise invalid("bad_fps", f"fps must be a number, got {shown(value)}")
    try:
        fps = float(value)
    except (ValueError, OverflowError):  # OverflowError: an integer of 400 digits
        raise invalid("bad_fps", f"fps must be a number, got {shown(value)}") from None
    if not math.isfinite(fps) or fps < MIN_FPS or fps > MAX_FPS:
        raise invalid("bad_fps", f"fps must be from {MIN_FPS:g} to {MAX_FPS:g}, got {shown(value)}")
    return fps


def _codec(value: object) -> str:
    name = value.strip().lower() if isinstance(value, str) else None
    if name not in CODECS:
        raise invalid("unknown_codec", unknown_codec_message(value))
    return name


def _size(value: object) -> tuple[int, int] | None:
    if value is None or value == "":
        return None
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(type(v) is int for v in value):
        text = f"{value[0]}x{value[1]}"
    elif isinstance(value, str):
        text = value
    else:
        raise invalid("bad_size", f"size must look like 1920x1080, got {shown(value)}")
    m = _SIZE.fullmatch(text)
    if not m:
        raise invalid("bad_size", f"size must look like 1920x1080, got {shown(value)}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (2 <= w <= MAX_SIDE and 2 <= h <= MAX_SIDE):
        raise invalid("bad_size", f"size sides must be between 2 and {MAX_SIDE} pixels, got {w}x{h}")
    return w, h


def _fit(value: object) -> str:
    fit = value if value is not None else DEFAULT_FIT
    if not isinstance(fit, str) or fit.strip().lower() not in FITS:
        raise invalid("bad_fit", f"fit must be one of {', '.join(FITS)}, got {shown(value)}")
    return fit.strip().lower()


Fps = Annotated[float, Field(ge=MIN_FPS, le=MAX_FPS, description="frames per second"), BeforeValidator(_fps)]
CodecName = Annotated[Literal[tuple(CODECS)], BeforeValidator(_codec)]  # type: ignore[valid-type]
Fit = Annotated[
    Literal[FITS],
    BeforeValidator(_fit),  # type: ignore[valid-type]
    Field(description="how a frame of another size is placed"),
]
# Parsed once into (width, height); written back as "WxH" wherever it is shown or stored.
Size = Annotated[
    tuple[int, int],
    BeforeValidator(_size),
    PlainSerializer(lambda s: f"{s[0]}x{s[1]}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,6}[xX]\d{1,6}$", "description": "WxH"}),
]


def size_refusal(codec: str, size: tuple[int, int] | None, max_pixels: int | None) -> None:
    """Refuse (with bad_size) a size the codec cannot take, or over ``max_pixels``."""
    if size is not None:
        problem = size_problem(CODECS[codec], size, max_pixels)
        if problem:
            raise invalid("bad_size", problem)


class EncodeOptions(BaseModel):
    """What to make of the frames; every field valid once the model is made."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fps: Fps = DEFAULT_FPS
    codec: CodecName = DEFAULT_CODEC
    size: Size | None = None
    fit: Fit = DEFAULT_FIT
    skip_bad_frames: bool = False
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1)
    max_frame_bytes: int = Field(DEFAULT_MAX_FRAME_BYTES, ge=1)

    @model_validator(mode="after")
    def _codec_takes_the_size(self) -> EncodeOptions:
        size_refusal(self.codec, self.size, self.max_pixels)
        return self

    @classmethod
    def parse(cls, **values: Any) -> EncodeOptions:
        """The options from a caller's values (None: the default); an InvalidOptionError
        subclass with the value's code when one is wrong."""
        try:
            return cls.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            raise from_validation(exc) from None
