"""The codecs img2vid writes: one table that the engine, the CLI and the web form read."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BadOutputNameError, UnknownCodecError


@dataclass(frozen=True)
class Codec:
    name: str
    label: str
    suffix: str  # the container a bare output name gets
    suffixes: tuple[str, ...]  # containers the codec may be written into
    plays_in_browsers: bool
    # yuv420p codecs store chroma at half resolution, so width and height must be even.
    needs_even_size: bool


CODECS: dict[str, Codec] = {
    c.name: c
    for c in (
        Codec("mp4v", "MP4 (MPEG-4 Part 2) — fastest, plays in VLC", ".mp4", (".mp4", ".mkv", ".avi"), False, True),
        Codec("h264", "MP4 (H.264) — plays in browsers", ".mp4", (".mp4", ".mkv"), True, True),
        Codec("vp9", "WebM (VP9) — plays in browsers, small files", ".webm", (".webm", ".mkv"), True, True),
        Codec("vp8", "WebM (VP8) — plays in browsers", ".webm", (".webm", ".mkv"), True, True),
        Codec("mjpg", "AVI (Motion JPEG) — every frame a JPEG", ".avi", (".avi", ".mkv"), False, True),
        Codec("ffv1", "MKV (FFV1) — lossless, large", ".mkv", (".mkv", ".avi"), False, False),
    )
}

DEFAULT_CODEC = "mp4v"


def get_codec(name: str) -> Codec:
    key = (name or "").strip().lower()
    try:
        return CODECS[key]
    except KeyError:
        raise UnknownCodecError(
            f"unknown codec {name!r}; choose one of: {', '.join(CODECS)}"
        ) from None


def codec_for_suffix(suffix: str) -> str | None:
    """The codec a bare ``out.avi``-style name implies, when no codec was named."""
    return {".mp4": DEFAULT_CODEC, ".webm": "vp8", ".avi": "mjpg", ".mkv": "ffv1"}.get(suffix.lower())


def check_suffix(codec: Codec, suffix: str) -> None:
    if suffix.lower() not in codec.suffixes:
        raise BadOutputNameError(
            f"codec {codec.name} cannot be written to a {suffix or 'suffix-less'} file; "
            f"use {' or '.join(codec.suffixes)}"
        )
