"""The codecs img2vid writes: one table that the engine, the CLI and the web form read."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BadOutputNameError, BadSizeError, UnknownCodecError, shown


@dataclass(frozen=True)
class Codec:
    name: str
    label: str
    suffix: str  # the container a bare output name gets
    suffixes: tuple[str, ...]  # containers the codec may be written into
    plays_in_browsers: bool
    # yuv420p codecs store chroma at half resolution, so width and height must be even.
    needs_even_size: bool
    # The largest picture the encoder opens, found by opening it (tests/test_codec_limits.py
    # checks both sides of each): what the bitstream's size fields can hold, rounded
    # down to even where the size must be even.
    max_width: int
    max_height: int
    # Pictures of more pixels than this may fail once encoded, depending on their content.
    max_pixels: int | None = None


CODECS: dict[str, Codec] = {
    c.name: c
    for c in (
        # MPEG-4 Part 2 sizes are 13-bit fields: 8191, made even.
        Codec("mp4v", "MP4 (MPEG-4 Part 2) — fastest, plays in VLC", ".mp4", (".mp4", ".mkv", ".avi"), False, True,
              8190, 8190),
        # libx264 refuses a side over 16384.
        Codec("h264", "MP4 (H.264) — plays in browsers", ".mp4", (".mp4", ".mkv"), True, True, 16384, 16384),
        # VP9 sizes are 16-bit fields (minus one).
        Codec("vp9", "WebM (VP9) — plays in browsers, small files", ".webm", (".webm", ".mkv"), True, True,
              65536, 65536),
        # VP8 sizes are 14-bit fields: 16383, made even. Its first partition (the modes
        # of every macroblock) must fit a 19-bit length, and libvpx wraps it without a
        # word: a picture of flat 4x4 blocks at 240 fps overflows past 4778x4778, about
        # 89,000 macroblocks; 65,536 (4096x4096) leaves room for any content found.
        Codec("vp8", "WebM (VP8) — plays in browsers", ".webm", (".webm", ".mkv"), True, True, 16382, 16382,
              max_pixels=65_536 * 256),
        # JPEG's own limit (libjpeg's JPEG_MAX_DIMENSION).
        Codec("mjpg", "AVI (Motion JPEG) — every frame a JPEG", ".avi", (".avi", ".mkv"), False, True, 65500, 65500),
        # No side limit of its own (checked past a million); AVI's is 65535. Past about
        # 80 MP a noisy frame compresses to more than Matroska's 256 MiB per block.
        Codec("ffv1", "MKV (FFV1) — lossless, large", ".mkv", (".mkv", ".avi"), False, False, 65535, 65535,
              max_pixels=8944 * 8944),
    )
}

# FFmpeg refuses any picture with (width + 128) x (height + 128) of INT_MAX / 8 or more,
# its sides padded to whole 16-pixel macroblocks (av_image_check_size): the read-back
# of a 16384x16130 H.264 video fails there, 16384x16128 does not.
_FFMPEG_MAX_PADDED_AREA = (2**31 - 1) // 8

DEFAULT_CODEC = "mp4v"


def get_codec(name: object) -> Codec:
    codec = CODECS.get(name.strip().lower()) if isinstance(name, str) else None
    if codec is None:
        raise UnknownCodecError(f"unknown codec {shown(name)}; choose one of: {', '.join(CODECS)}")
    return codec


def check_size(codec: Codec, size: tuple[int, int], max_pixels: int) -> None:
    """BadSizeError unless ``codec`` can encode (and FFmpeg read back) pictures of
    ``size``, with no more than ``max_pixels`` pixels (IMG2VID_MAX_PIXELS)."""
    w, h = size
    if codec.needs_even_size:  # as the engine will write it
        w, h = w - w % 2, h - h % 2
    if w > codec.max_width or h > codec.max_height:
        raise BadSizeError(f"{codec.name} takes pictures of at most {codec.max_width}x{codec.max_height}, got {w}x{h}")
    if w * h > max_pixels:
        raise BadSizeError(f"{w}x{h} is {w * h / 1e6:.1f} megapixels, over the limit of {max_pixels / 1e6:g} "
                           "megapixels (IMG2VID_MAX_PIXELS)")
    if codec.max_pixels is not None and w * h > codec.max_pixels:
        raise BadSizeError(f"{codec.name} cannot be relied on past {codec.max_pixels / 1e6:.1f} megapixels, "
                           f"got {w}x{h}")
    padded = (-(-w // 16) * 16 + 128) * (-(-h // 16) * 16 + 128)
    if padded >= _FFMPEG_MAX_PADDED_AREA:
        raise BadSizeError(f"{w}x{h} is larger than FFmpeg can hold in one picture")


def codec_for_suffix(suffix: str) -> str | None:
    """The codec a bare ``out.avi``-style name implies, when no codec was named."""
    return {".mp4": DEFAULT_CODEC, ".webm": "vp8", ".avi": "mjpg", ".mkv": "ffv1"}.get(suffix.lower())


def check_suffix(codec: Codec, suffix: str) -> None:
    if suffix.lower() not in codec.suffixes:
        raise BadOutputNameError(
            f"codec {codec.name} cannot be written to a {suffix or 'suffix-less'} file; "
            f"use {' or '.join(codec.suffixes)}"
        )
