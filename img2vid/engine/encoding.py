"""The engine: a folder of frames in, a verified video and its poster out.

Plain Python and OpenCV; the CLI calls it directly and the Celery task wraps it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from img2vid.engine.codecs import Codec, check_size, check_suffix, get_codec
from img2vid.engine.discovery import discover
from img2vid.engine.images import is_jpeg_name, probe_bytes
from img2vid.engine.options import EncodeOptions
from img2vid.engine.sources import Frame, FrameList
from img2vid.errors import (
    CancelledError,
    NoFramesError,
    OutputUnwritableError,
    UnreadableFrameError,
    VerifyFailedError,
)

from .fit import even_size, fit_frame
from .frames import decode_bgr
from .jpegyuv import decode_yuv420
from .output import OutputFiles
from .pipeline import ordered_map, prefetched
from .verify import probe_video
from .writers import open_writer

Progress = Callable[[int, int], None]
CancelCheck = Callable[[], bool]

# Frames decoded ahead of the writer. With JPEGs going straight to YUV the encoder is
# the slow side at 1080p on 2 cores: 4 keep it as busy as 8 did (mp4v, h264, vp9, and
# PNGs through BGR) and hold 13-17 MiB less, which keeps VP9 under 300 MiB.
DEFAULT_WINDOW = 4


@dataclass
class EncodeResult:
    video: Path
    poster: Path
    frames: int
    width: int
    height: int
    fps: float
    codec: str
    seconds: float
    bytes: int
    bad_frames: list[str] = field(default_factory=list)  # skipped because unreadable
    other_files: int = 0  # files in the source that are not images

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.fps


class _Ticker:
    """Reports progress and asks whether to stop, at most every ``interval`` seconds."""

    def __init__(self, progress: Progress | None, should_cancel: CancelCheck | None, interval: float) -> None:
        self.progress, self.should_cancel, self.interval = progress, should_cancel, interval
        self.done = self.total = 0
        self._last = float("-inf")

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        if self.should_cancel is not None and self.should_cancel():
            raise CancelledError("encoding was cancelled")
        self.report()

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total)


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def encode(
    source: str | os.PathLike[str] | FrameList,
    output: str | os.PathLike[str],
    options: EncodeOptions | None = None,
    *,
    pattern: str | None = None,
    root: str | os.PathLike[str] | None = None,
    shown_as: str | None = None,
    poster: str | os.PathLike[str] | None = None,
    make_poster: bool = True,
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: CancelCheck | None = None,
    threads: int = 0,
    window: int = DEFAULT_WINDOW,
    interval: float = 0.1,
) -> EncodeResult:
    """Encode the frames of ``source`` (a folder or a glob, or frames listed already,
    e.g. a store's) into ``output``.

    ``progress(frames_done, frames_total)`` and ``should_cancel()`` are called from this
    thread at least every ``interval`` seconds while work goes on (and once at the end
    for progress). Raises an Img2VidError subclass; after any failure nothing is left
    at ``output`` or its poster path. ``make_poster=False`` writes none (a split job's
    later segments: the first one's is the job's). With ``root``, a frame that is a link out of it
    is refused (the job service's input root); ``shown_as`` names the source in messages.
    """
    started = time.monotonic()
    opts = options or EncodeOptions()
    codec = get_codec(opts.codec)
    video_path = Path(output)
    check_suffix(codec, video_path.suffix)
    files = OutputFiles(video_path, Path(poster) if poster else None, overwrite=overwrite)
    if isinstance(source, FrameList):
        found = source
    else:
        found = discover(source, pattern, root=root, shown_as=shown_as).frame_list()
    ticker = _Ticker(progress, should_cancel, interval)
    ticker.total = len(found.frames)
    files.check()
    try:
        probed = _probe(found, codec, opts, ticker)
        out_size = probed.size
        written, first = _write(files, codec, opts, found, probed, ticker, threads, window)
        count, width, height = probe_video(files.tmp_video)
        if count != written or (width, height) != out_size:
            raise VerifyFailedError(
                f"the written video holds {count} frames at {width}x{height}, "
                f"expected {written} at {out_size[0]}x{out_size[1]}"
            )
        if make_poster:
            _write_poster(files.tmp_poster, decode_bgr(first.name, probed.bytes_of(first, opts)), out_size, opts)
        files.place(with_poster=make_poster)
    finally:
        files.discard()

    # The video is in place: report 100 % but no longer ask whether to cancel.
    ticker.done = ticker.total
    ticker.report()
    return EncodeResult(
        video=files.video,
        poster=files.poster,
        frames=written,
        width=out_size[0],
        height=out_size[1],
        fps=opts.fps,
        codec=codec.name,
        seconds=time.monotonic() - started,
        bytes=files.video.stat().st_size,
        bad_frames=probed.bad,
        other_files=found.skipped,
    )


def _write_poster(path: Path, bgr, size: tuple[int, int], opts: EncodeOptions) -> None:
    if not cv2.imwrite(str(path), fit_frame(bgr, size, opts.fit), [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise OutputUnwritableError(f"could not write the poster {path.name}", path=path)


@dataclass
class _Probed:
    """What reading the headers found: the frames to encode, the names refused, the
    output size, and the first frame's bytes when its header could not be read alone."""

    frames: list[Frame]
    bad: list[str]
    size: tuple[int, int]
    first_bytes: bytes | None
    # Frames after the first whose header costs a read of its own (a store's): each is
    # checked from its bytes as they arrive, before a pixel is decoded.
    deferred: bool

    def bytes_of(self, frame: Frame, opts: EncodeOptions) -> bytes:
        """The frame's bytes, the first one's read once only."""
        if frame is self.frames[0] and self.first_bytes is not None:
            return self.first_bytes
        return frame.read(opts.max_frame_bytes)


def _probe(found: FrameList, codec, opts, ticker) -> _Probed:
    """Read every header that can be read alone: the pixel limit is enforced before
    anything is decoded, and the output size is known without decoding. A frame whose
    header cannot be (a store's) is read whole while no size is known yet; after that
    it waits for _write, which checks it from its bytes."""
    frames: list[Frame] = []
    bad: list[str] = []
    first_size: tuple[int, int] | None = None
    first_bytes: bytes | None = None
    deferred = False
    for frame in found.frames:
        data = None
        try:
            size = frame.header(opts.max_pixels, opts.max_frame_bytes)
            if size is None:
                if first_size is not None:
                    frames.append(frame)
                    deferred = True
                    continue
                data = frame.read(opts.max_frame_bytes)
                size = probe_bytes(frame.name, data, opts.max_pixels)
        except UnreadableFrameError:
            if not opts.skip_bad_frames:
                raise
            bad.append(frame.name)
            continue
        if first_size is None:
            first_size, first_bytes = size, data
        frames.append(frame)
        ticker.tick()
    if first_size is None:
        raise NoFramesError(f"no readable frames in {found.where} ({len(bad)} unreadable)")
    return _Probed(frames, bad, output_size(codec, first_size, opts), first_bytes, deferred)


def output_size(codec: Codec, first_size: tuple[int, int] | None, opts: EncodeOptions) -> tuple[int, int]:
    """The picture size an encode makes: the options' size, else the first frame's,
    made even where the codec needs it; BadSizeError when the codec cannot take it."""
    size = opts.size or first_size
    assert size is not None
    if codec.needs_even_size:
        size = even_size(size)
    # The first frame's size may be more than the codec takes: say so before encoding.
    check_size(codec, size, opts.max_pixels)
    return size


def _write(files, codec, opts, found: FrameList, probed: _Probed, ticker, threads, window) -> tuple[int, Frame]:
    """Feed every frame through the pool into the writer; return (written, first frame)."""
    frames, bad, size = probed.frames, probed.bad, probed.size
    ticker.done = len(bad)  # frames refused at the header count as handled
    writer = open_writer(codec, files.tmp_video, opts.fps, size)

    yuv = writer.takes_yuv420

    def fetch(frame: Frame) -> bytes:
        data = probed.bytes_of(frame, opts)
        if probed.deferred:
            probe_bytes(frame.name, data, opts.max_pixels)
        return data

    def decode(item: tuple[Frame, Future[bytes] | None]):
        # Read here, in the decode thread, unless a read was started ahead.
        frame, read = item
        data = read.result() if read is not None else fetch(frame)
        if yuv and is_jpeg_name(frame.name):
            decoded = decode_yuv420(data, size)
            if decoded is not None:
                return decoded
        return writer.prepare(fit_frame(decode_bgr(frame.name, data), size, opts.fit))

    def on_wait() -> None:
        try:
            ticker.tick()
        except BaseException:
            # Raised inside the pool's generator, whose shutdown waits for the decoders,
            # which wait for the reads: those waiting on a store must give up first.
            found.stop()
            raise

    reads = prefetched(fetch, frames, ahead=found.fetch_ahead) if found.fetch_ahead else None
    written, first = 0, None
    results = ordered_map(
        decode,
        reads if reads is not None else ((frame, None) for frame in frames),
        threads=threads or default_threads(),
        window=window,
        on_wait=on_wait,
        wait_step=ticker.interval,
    )
    try:
        # closing(): on an error the pools are shut down now, not whenever the
        # generators happen to be collected.
        with closing(reads) if reads is not None else nullcontext(), closing(results):
            try:
                for (frame, _), future in results:
                    try:
                        prepared = future.result()
                    except UnreadableFrameError:
                        if not opts.skip_bad_frames:
                            raise
                        bad.append(frame.name)
                    else:
                        writer.write(prepared)
                        del prepared  # do not hold a frame while waiting for the next
                        written += 1
                        first = first or frame
                    ticker.done += 1
                    ticker.tick()
            except BaseException:
                found.stop()  # reads waiting on a store give up, so the pools can stop
                raise
        if first is None:
            raise NoFramesError(f"none of the {len(frames)} frames could be decoded")
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return written, first
