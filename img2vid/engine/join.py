"""Joining a split job's segments: packets copied, never re-encoded, into one video.

Each segment was encoded alone with the same settings, so each starts on a key frame
and their streams agree in every parameter (checked here: a difference would make a
video that plays wrongly past a seam). Timestamps are shifted by the frames before each
segment, so the whole runs on at one frame per 1/fps; the joined file is then read back
and checked (frame count, duration, and the frames at every seam decode).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from img2vid.engine.codecs import get_codec
from img2vid.engine.output import OutputFiles
from img2vid.errors import CancelledError, VerifyFailedError

CancelCheck = Callable[[], bool]
# Frames decoded after each seam when the joined video is read back.
_SEAM_FRAMES = 2


@dataclass(frozen=True)
class JoinResult:
    video: Path
    poster: Path
    frames: int
    width: int
    height: int
    bytes: int


def join(
    parts: list[Path],
    output: Path,
    codec_name: str,
    fps: float,
    *,
    poster_from: Path,
    poster: Path | None = None,
    overwrite: bool = False,
    should_cancel: CancelCheck | None = None,
) -> JoinResult:
    """Join the segment files ``parts`` (in order) into ``output`` with ``poster_from``
    as its poster; VerifyFailedError when they cannot be joined or the whole does not
    read back as their sum. Nothing is left at ``output`` after a failure."""
    codec = get_codec(codec_name)
    files = OutputFiles(output, poster, overwrite=overwrite)
    files.check()
    try:
        try:
            counts, size = _copy(parts, files.tmp_video, codec, fps, should_cancel)
            _verify(files.tmp_video, counts, size, fps)
        except (av.error.FFmpegError, IndexError) as exc:  # a segment unreadable, or not a video
            raise VerifyFailedError(f"the segments could not be joined: {exc}") from None
        shutil.copyfile(poster_from, files.tmp_poster)
        files.place()
    finally:
        files.discard()
    return JoinResult(files.video, files.poster, sum(counts), *size, files.video.stat().st_size)


def _copy(parts, target: Path, codec, fps: float, should_cancel) -> tuple[list[int], tuple[int, int]]:
    options = getattr(codec.writing, "container_options", {}) or {}
    frame = Fraction(fps).limit_denominator(1_000_000) ** -1  # one frame's length in seconds
    counts: list[int] = []
    with av.open(str(target), "w", options=options) as out:
        out_stream = first = None
        for index, part in enumerate(parts):
            with av.open(str(part)) as src:
                stream = src.streams.video[0]
                if first is None:
                    first = _parameters(stream)
                    out_stream = out.add_stream_from_template(stream)
                elif _parameters(stream) != first:
                    raise VerifyFailedError(f"segment {index + 1} was encoded with other settings than segment 1")
                # Shift by the frames before this segment, in this segment's own time base.
                shift = round(sum(counts) * frame / stream.time_base)
                n = 0
                for packet in src.demux(stream):
                    if packet.dts is None:  # the demuxer's end-of-stream marker
                        continue
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = out_stream
                    out.mux(packet)
                    n += 1
                    if should_cancel is not None and n % 100 == 0 and should_cancel():
                        raise CancelledError("encoding was cancelled")
                counts.append(n)
    assert first is not None
    return counts, (first[1], first[2])


def _parameters(stream) -> tuple:
    ctx = stream.codec_context
    return (ctx.name, ctx.width, ctx.height, ctx.format.name if ctx.format else None, bytes(ctx.extradata or b""))


def _verify(path: Path, counts: list[int], size: tuple[int, int], fps: float) -> None:
    """Read the whole back: every packet counted, timestamps rising, and the first
    frames after each seam decoded (a seam is where a bad join shows)."""
    expected = sum(counts)
    starts = {sum(counts[:i]) for i in range(len(counts))}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if (ctx.width, ctx.height) != size:
            raise VerifyFailedError(f"the joined video is {ctx.width}x{ctx.height}, expected {size[0]}x{size[1]}")
        n, last, decoded = 0, None, 0
        for packet in container.demux(stream):
            if packet.dts is None:
                continue
            if last is not None and packet.dts <= last:
                raise VerifyFailedError(f"the joined video's timestamps go back at frame {n + 1}")
            last = packet.dts
            if n in starts and not packet.is_keyframe:
                raise VerifyFailedError(f"a segment of the joined video starts on frame {n + 1}, not a key frame")
            if any(0 <= n - s < _SEAM_FRAMES for s in starts):
                decoded += len(stream.decode(packet))
            n += 1
        decoded += len(stream.decode(None))
        if n != expected:
            raise VerifyFailedError(f"the joined video holds {n} frames, its segments {expected}")
        duration = float(expected / Fraction(fps).limit_denominator(1_000_000))
        if stream.duration is not None and stream.time_base is not None:
            held = float(stream.duration * stream.time_base)
            if abs(held - duration) > 2 / fps + 0.05:
                raise VerifyFailedError(f"the joined video lasts {held:.3f} s, expected {duration:.3f} s")
    if decoded < len(starts):
        raise VerifyFailedError("the frames at a seam of the joined video do not decode")
