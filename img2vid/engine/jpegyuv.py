"""JPEG frames straight to YUV 4:2:0 with libavcodec's own decoder, as ffmpeg reads them.

A JPEG is YCbCr 4:2:0 already: the way through BGR (chroma upsampled, clipped, rounded,
then averaged down again) cost CPU and about 5 dB of chroma PSNR. Only a JPEG that can
be fed as it is takes this way; one that is grey, CMYK or 4:4:4, turned by its EXIF
orientation, of another size than the video, or that libavcodec finds fault with goes
through OpenCV (img2vid.engine.frames), which also names what is wrong with a bad one.
"""

from __future__ import annotations

import io
import threading

import av
import cv2
import numpy as np
from av.video.frame import PictureType
from av.video.reformatter import ColorRange
from PIL import Image

_EXIF_ORIENTATION = 0x0112
_local = threading.local()

# JPEG's full range to limited range, rounded: luma 0..255 -> 16..235, chroma 0..255 ->
# 16..240 about 128. The matrix is BT.601 both sides, as OpenCV's BGR->I420 wrote before.
_LUMA = np.round(np.arange(256) * (219 / 255) + 16).astype(np.uint8)
_CHROMA = np.round((np.arange(256) - 128) * (224 / 255) + 128).clip(16, 240).astype(np.uint8)


def decode_yuv420(data: bytes, size: tuple[int, int]) -> av.VideoFrame | None:
    """The JPEG ``data`` as a yuv420p frame of ``size`` in limited range (what players
    assume of yuv420p; JPEG's own is full range), or None when it must go through BGR."""
    if _turned(data):
        return None
    decoder = _decoder()
    try:
        frames = decoder.decode(av.Packet(data))
    except (av.error.FFmpegError, ValueError):
        _local.mjpeg = None  # start the next frame with a fresh decoder
        return None
    if len(frames) != 1:
        return None
    frame = frames[0]
    # Newer libavcodec says full range by color_range rather than by the yuvj formats.
    full_range = frame.format.name == "yuvj420p" or (frame.format.name == "yuv420p" and frame.color_range == 2)
    if not full_range or (frame.width, frame.height) != size or frame.is_corrupt:
        return None
    return _limited_range(frame)


def _limited_range(frame: av.VideoFrame) -> av.VideoFrame:
    # Table lookups straight into a new frame (they release the GIL): about 2 ms of CPU
    # a 1080p frame less than swscale's range conversion.
    yuv = av.VideoFrame(frame.width, frame.height, "yuv420p")
    for source, target, table in zip(frame.planes, yuv.planes, (_LUMA, _CHROMA, _CHROMA), strict=True):
        cv2.LUT(_pixels(source), table, dst=_pixels(target))
    yuv.color_range = ColorRange.MPEG
    # Not the decoded JPEG's picture type (intra): an encoder obeys it and makes every
    # frame a key frame (h264 five times the size, mpeg4 9 dB worse at its bit rate).
    yuv.pict_type = PictureType.NONE
    return yuv


def _pixels(plane) -> np.ndarray:
    """A plane's pixels as a writable array view (rows may be padded past the width)."""
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]


def _decoder() -> av.CodecContext:
    # A decoder is not thread-safe: one per decode thread, the pool is the parallelism.
    decoder = getattr(_local, "mjpeg", None)
    if decoder is None:
        decoder = av.CodecContext.create("mjpeg", "r")
        decoder.thread_count = 1
        # Any damage is an error, not a concealed picture: OpenCV then judges the file.
        decoder.options = {"err_detect": "explode"}
        _local.mjpeg = decoder
    return decoder


def _turned(data: bytes) -> bool:
    """Whether the JPEG's EXIF orientation asks for it to be turned or mirrored."""
    if b"Exif\x00\x00" not in data[:65536]:  # EXIF lives in APP1, near the start
        return False
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.getexif().get(_EXIF_ORIENTATION, 1) not in (0, 1)
    except Exception:  # a header Pillow cannot read: let OpenCV decide
        return True
