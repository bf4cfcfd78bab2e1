"""Reading a written video back: how many frames it holds, and at what size."""

from __future__ import annotations

from pathlib import Path

import av


def probe_video(path: Path) -> tuple[int, int, int]:
    """(frames, width, height) of the first video stream, counted packet by packet.

    Container headers are not trusted: WebM and MKV store no frame count and OpenCV
    estimates one from the duration. Demuxing reads every packet without decoding, so
    it is exact and fast (each packet of these codecs is one frame).
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for packet in container.demux(stream) if packet.size)
        return frames, stream.codec_context.width, stream.codec_context.height
