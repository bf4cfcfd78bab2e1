"""Cutting one encode into segments that separate processes encode and join.py joins:
which frames each segment takes, and the one picture size they must all share."""

from __future__ import annotations

from dataclasses import replace

from img2vid.engine.codecs import get_codec
from img2vid.engine.encoding import output_size
from img2vid.engine.images import probe_bytes
from img2vid.engine.options import EncodeOptions
from img2vid.engine.sources import FrameList
from img2vid.errors import NoFramesError, UnreadableFrameError


def plan(frames: int, split_frames: int) -> list[tuple[int, int]]:
    """(start, stop) of each segment of about ``split_frames`` contiguous frames, all
    within one frame of each other's length; one segment when ``frames`` is not more
    than ``split_frames`` or splitting is off (0)."""
    if split_frames <= 0 or frames <= split_frames:
        return [(0, frames)]
    count = -(-frames // split_frames)
    bounds = [frames * i // count for i in range(count + 1)]
    return list(zip(bounds, bounds[1:], strict=False))


def can_split(codec: str) -> bool:
    """Whether the codec's segments can be joined by copying packets (the codec table says)."""
    return get_codec(codec).joins


def segment(found: FrameList, start: int, stop: int) -> FrameList:
    """The frames ``start`` to ``stop`` of ``found``, read as ``found`` reads them."""
    return replace(found, frames=found.frames[start:stop])


def video_size(found: FrameList, opts: EncodeOptions) -> tuple[int, int]:
    """The picture size of the whole encode, as encode() would choose it: the spec's, or
    the first readable frame's (made even where the codec needs it). Every segment is
    encoded at this size, so that they join."""
    first = None
    for frame in found.frames if opts.size is None else ():
        try:
            first = frame.header(opts.max_pixels, opts.max_frame_bytes)
            if first is None:
                first = probe_bytes(frame.name, frame.read(opts.max_frame_bytes), opts.max_pixels)
            break
        except UnreadableFrameError:
            if not opts.skip_bad_frames:
                raise
    if opts.size is None and first is None:
        raise NoFramesError(f"no readable frames in {found.where}")
    return output_size(get_codec(opts.codec), first, opts)
