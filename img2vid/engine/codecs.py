"""The codecs img2vid writes: one table holding, for each, how the engine writes it, its
file suffixes, whether browsers play it and the largest picture it takes. The engine,
the CLI, the spec's validators and the web pages all read it; nothing else names a
codec's settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from img2vid.errors import BadOutputNameError, BadSizeError, UnknownCodecError, shown


@dataclass(frozen=True)
class BitRate:
    """A target bit rate that grows with the picture: ``per_pixel`` bits for each pixel
    of each frame, within ``floor`` and ``ceiling``."""

    per_pixel: float
    floor: int = 0
    ceiling: int | None = None

    def __call__(self, fps: float, size: tuple[int, int]) -> int:
        rate = max(self.floor, int(size[0] * size[1] * fps * self.per_pixel))
        return rate if self.ceiling is None else min(rate, self.ceiling)


@dataclass(frozen=True)
class PyAVWriting:
    """Written through PyAV (libavcodec): the encoder, the pixel format it is fed, and
    the options given to the encoder and to the container."""

    encoder: str
    pix_fmt: str = "yuv420p"
    options: dict[str, str] = field(default_factory=dict)
    container_options: dict[str, str] = field(default_factory=dict)
    bit_rate: BitRate | None = None
    codec_tag: str | None = None

    def ffmpeg_args(self, fps: float, size: tuple[int, int]) -> list[str]:
        """The same settings as ffmpeg's output options, so that a benchmark can hold the
        engine against ffmpeg doing exactly this encode."""
        args = ["-c:v", self.encoder, "-pix_fmt", self.pix_fmt]
        for key, value in {**self.options, **self.container_options}.items():
            args += [f"-{key}", value]
        if self.bit_rate:
            args += ["-b:v", str(self.bit_rate(fps, size))]
        if self.codec_tag:
            args += ["-tag:v", self.codec_tag]
        return args


@dataclass(frozen=True)
class OpenCVWriting:
    """Written through cv2.VideoWriter's FFmpeg backend with this FourCC."""

    fourcc: str


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
    writing: PyAVWriting | OpenCVWriting
    # Pictures of more pixels than this may fail once encoded, depending on their content.
    max_pixels: int | None = None
    # Segments encoded apart join into one video by copying packets (engine/join.py):
    # each starts on a key frame and the container takes shifted timestamps.
    joins: bool = True
    # An animation a browser shows in <img> (GIF, WebP), not in <video>.
    animated_image: bool = False


# About 0.1 bit per pixel per frame: 1080p at 5 fps gets 1 Mbit/s, at 30 fps 6 Mbit/s.
_VPX_BIT_RATE = BitRate(0.1, floor=200_000)

CODECS: dict[str, Codec] = {
    c.name: c
    for c in (
        # MPEG-4 Part 2 sizes are 13-bit fields: 8191, made even. The encoder, tag and bit
        # rate cv2.VideoWriter uses for mp4v (fps x width x height bits/s), but fed
        # yuv420p made in the decode pool and free to use threads.
        Codec(
            "mp4v",
            "MP4 (MPEG-4 Part 2) — fastest, plays in VLC",
            ".mp4",
            (".mp4", ".mkv", ".avi"),
            False,
            True,
            8190,
            8190,
            PyAVWriting("mpeg4", bit_rate=BitRate(1.0, ceiling=2**30), codec_tag="mp4v"),
        ),
        # libx264 refuses a side over 16384. A 5-frame lookahead instead of veryfast's 10
        # keeps a 1080p encode under 300 MiB (from 323) and costs nothing visible; moov
        # first, so a browser starts playing before the whole file is loaded.
        Codec(
            "h264",
            "MP4 (H.264) — plays in browsers",
            ".mp4",
            (".mp4", ".mkv"),
            True,
            True,
            16384,
            16384,
            PyAVWriting(
                "libx264",
                options={"preset": "veryfast", "crf": "23", "profile": "high", "rc-lookahead": "5"},
                container_options={"movflags": "+faststart"},
            ),
        ),
        # VP9 sizes are 16-bit fields (minus one). libvpx's default "good" deadline runs
        # at 1.6 frames/s at 1080p: real time, and no lag (no frames held back).
        Codec(
            "vp9",
            "WebM (VP9) — plays in browsers, small files",
            ".webm",
            (".webm", ".mkv"),
            True,
            True,
            65536,
            65536,
            PyAVWriting(
                "libvpx-vp9",
                options={"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "32", "lag-in-frames": "0"},
                bit_rate=_VPX_BIT_RATE,
            ),
        ),
        # VP8 sizes are 14-bit fields: 16383, made even. Its first partition (the modes
        # of every macroblock) must fit a 19-bit length, and libvpx wraps it without a
        # word: a picture of flat 4x4 blocks at 240 fps overflows past 4778x4778, about
        # 89,000 macroblocks; 65,536 (4096x4096) leaves room for any content found.
        # FFmpeg's libvpx wrapper keeps a 25-frame lag even at the real-time deadline; no
        # lag means no frames held back and no hidden alt-ref frames.
        Codec(
            "vp8",
            "WebM (VP8) — plays in browsers",
            ".webm",
            (".webm", ".mkv"),
            True,
            True,
            16382,
            16382,
            PyAVWriting(
                "libvpx",
                options={
                    "deadline": "realtime",
                    "cpu-used": "8",
                    "crf": "10",
                    "auto-alt-ref": "0",
                    "lag-in-frames": "0",
                },
                bit_rate=_VPX_BIT_RATE,
            ),
            max_pixels=65_536 * 256,
        ),
        # JPEG's own limit (libjpeg's JPEG_MAX_DIMENSION).
        Codec(
            "mjpg",
            "AVI (Motion JPEG) — every frame a JPEG",
            ".avi",
            (".avi", ".mkv"),
            False,
            True,
            65500,
            65500,
            OpenCVWriting("MJPG"),
        ),
        # No side limit of its own (checked past a million); AVI's is 65535. Past about
        # 80 MP a noisy frame compresses to more than Matroska's 256 MiB per block. Fed
        # BGR so it stays lossless (and keeps odd sizes, which OpenCV rounds down).
        Codec(
            "ffv1",
            "MKV (FFV1) — lossless, large",
            ".mkv",
            (".mkv", ".avi"),
            False,
            False,
            65535,
            65535,
            PyAVWriting("ffv1", pix_fmt="bgr0"),
            max_pixels=8944 * 8944,
        ),
    )
}

# FFmpeg refuses any picture with (width + 128) x (height + 128) of INT_MAX / 8 or more,
# its sides padded to whole 16-pixel macroblocks (av_image_check_size): the read-back
# of a 16384x16130 H.264 video fails there, 16384x16128 does not.
_FFMPEG_MAX_PADDED_AREA = (2**31 - 1) // 8

DEFAULT_CODEC = "mp4v"


def get_codec(name: object) -> Codec:
    """The codec a client named (any case); UnknownCodecError listing the codecs if none."""
    codec = CODECS.get(name.strip().lower()) if isinstance(name, str) else None
    if codec is None:
        raise UnknownCodecError(unknown_codec_message(name))
    return codec


def unknown_codec_message(name: object) -> str:
    return f"unknown codec {shown(name)}; choose one of: {', '.join(CODECS)}"


def size_problem(codec: Codec, size: tuple[int, int], max_pixels: int | None) -> str | None:
    """Why ``codec`` cannot encode (and FFmpeg read back) pictures of ``size``, or with
    more than ``max_pixels`` pixels (IMG2VID_MAX_PIXELS; None: not checked here); None
    when it can."""
    w, h = size
    if codec.needs_even_size:  # as the engine will write it
        w, h = w - w % 2, h - h % 2
    if w > codec.max_width or h > codec.max_height:
        return f"{codec.name} takes pictures of at most {codec.max_width}x{codec.max_height}, got {w}x{h}"
    if max_pixels is not None and w * h > max_pixels:
        return (
            f"{w}x{h} is {w * h / 1e6:.1f} megapixels, over the limit of {max_pixels / 1e6:g} "
            "megapixels (IMG2VID_MAX_PIXELS)"
        )
    if codec.max_pixels is not None and w * h > codec.max_pixels:
        return f"{codec.name} cannot be relied on past {codec.max_pixels / 1e6:.1f} megapixels, got {w}x{h}"
    padded = (-(-w // 16) * 16 + 128) * (-(-h // 16) * 16 + 128)
    if padded >= _FFMPEG_MAX_PADDED_AREA:
        return f"{w}x{h} is larger than FFmpeg can hold in one picture"
    return None


def check_size(codec: Codec, size: tuple[int, int], max_pixels: int) -> None:
    """BadSizeError unless ``codec`` can encode pictures of ``size`` (``size_problem``)."""
    problem = size_problem(codec, size, max_pixels)
    if problem:
        raise BadSizeError(problem)


def codec_for_suffix(suffix: str) -> str | None:
    """The codec a bare ``out.avi``-style name implies, when no codec was named."""
    return {".mp4": DEFAULT_CODEC, ".webm": "vp8", ".avi": "mjpg", ".mkv": "ffv1"}.get(suffix.lower())


def check_suffix(codec: Codec, suffix: str) -> None:
    if suffix.lower() not in codec.suffixes:
        raise BadOutputNameError(
            f"codec {codec.name} cannot be written to a {suffix or 'suffix-less'} file; "
            f"use {' or '.join(codec.suffixes)}"
        )
