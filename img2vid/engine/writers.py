"""Video writers, one per backend, behind the same three calls.

``prepare`` turns a BGR frame into what ``write`` takes; it is thread-safe and runs in
the decode pool, so colour conversion is spread over the cores instead of sitting in the
single writer thread. ``write`` and ``close`` run in the caller's thread, in order.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from img2vid.engine.codecs import Codec, OpenCVWriting
from img2vid.errors import EncoderError


class Writer(Protocol):
    # Whether write() also takes a limited-range yuv420p av.VideoFrame as it is.
    takes_yuv420: bool

    def prepare(self, bgr: np.ndarray) -> np.ndarray: ...
    def write(self, prepared: np.ndarray | av.VideoFrame) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class OpenCVWriter:
    """cv2.VideoWriter through its FFmpeg backend (mjpg). It rounds odd sizes down to
    even, so only codecs that need even sizes anyway go through it."""

    takes_yuv420 = False

    def __init__(self, path: Path, fourcc: str, fps: float, size: tuple[int, int]) -> None:
        self.size = size
        self._w = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if not self._w.isOpened():
            self._w.release()
            raise EncoderError(f"OpenCV could not open a {fourcc} writer for {path.name}")

    def prepare(self, bgr: np.ndarray) -> np.ndarray:
        return bgr

    def write(self, prepared: np.ndarray) -> None:
        # VideoWriter drops a frame of another size without a word; never let that happen.
        if (prepared.shape[1], prepared.shape[0]) != self.size:
            raise EncoderError(f"frame is {prepared.shape[1]}x{prepared.shape[0]}, writer wants {self.size}")
        self._w.write(prepared)

    def close(self) -> None:
        self._w.release()

    abort = close


class PyAVWriter:
    """libavcodec through PyAV: mp4v (mpeg4), h264 (libx264) and vp8/vp9 (libvpx) fed
    yuv420p, and ffv1 fed BGR so it stays lossless (and keeps odd sizes, which OpenCV
    rounds down)."""

    def __init__(
        self,
        path: Path,
        encoder: str,
        fps: float,
        size: tuple[int, int],
        options: dict[str, str],
        bit_rate: int | None = None,
        container_options: dict[str, str] | None = None,
        pix_fmt: str = "yuv420p",
        codec_tag: str | None = None,
    ) -> None:
        self.size = size
        self._yuv = self.takes_yuv420 = pix_fmt == "yuv420p"
        try:
            self._out = av.open(str(path), "w", options=container_options or {})
            stream = self._out.add_stream(encoder, rate=Fraction(fps).limit_denominator(1_000_000))
            stream.width, stream.height = size
            stream.pix_fmt = pix_fmt
            stream.options = options
            if bit_rate:
                stream.bit_rate = bit_rate
            if codec_tag:
                stream.codec_tag = codec_tag
            # As many as the encoder likes, of PyAV's kind (slices). libx264's frame threads,
            # ffmpeg's default, ran 12 % faster at 1080p but peaked at 326 MiB, not 253.
            stream.codec_context.thread_count = 0
            self._stream = stream
        except (av.error.FFmpegError, ValueError) as exc:
            raise EncoderError(f"could not open the {encoder} encoder for {path.name}: {exc}") from None

    def prepare(self, bgr: np.ndarray) -> np.ndarray:
        # OpenCV's BGR->I420 is BT.601 limited range, what yuv420p players assume.
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420) if self._yuv else bgr

    def write(self, prepared: np.ndarray | av.VideoFrame) -> None:
        try:
            # Inside: FFmpeg checks the picture's size here too (av_image_check_size).
            if isinstance(prepared, av.VideoFrame):
                frame = prepared
                frame.pts = None  # the encoder numbers the frames
            else:
                frame = av.VideoFrame.from_ndarray(prepared, format="yuv420p" if self._yuv else "bgr24")
            for packet in self._stream.encode(frame):
                self._out.mux(packet)
        except av.error.FFmpegError as exc:
            raise EncoderError(f"encoder failed: {exc}") from None

    def close(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._out.mux(packet)
        except av.error.FFmpegError as exc:
            raise EncoderError(f"encoder failed while finishing: {exc}") from None
        finally:
            self._out.close()

    def abort(self) -> None:
        # The file is being thrown away; a muxer complaint changes nothing.
        with contextlib.suppress(Exception):
            self._out.close()


def open_writer(codec: Codec, path: Path, fps: float, size: tuple[int, int]) -> Writer:
    """A writer for ``codec`` at ``path``, with the settings of its row in the codec table.

    OpenCV's wheels read OPENCV_FFMPEG_WRITER_OPTIONS but open the encoder without it
    (checked on 4.12 and 5.0: the same bytes whatever it says), so every codec that needs
    encoder options goes through PyAV.
    """
    how = codec.writing
    if isinstance(how, OpenCVWriting):
        return OpenCVWriter(path, how.fourcc, fps, size)
    return PyAVWriter(
        path,
        how.encoder,
        fps,
        size,
        how.options,
        bit_rate=how.bit_rate(fps, size) if how.bit_rate else None,
        container_options=how.container_options,
        pix_fmt=how.pix_fmt,
        codec_tag=how.codec_tag,
    )
