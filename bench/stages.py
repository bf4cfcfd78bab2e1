"""Where an encode's CPU goes: each stage of the engine on its own, per frame, on one thread.

Decoding a JPEG (libavcodec straight to YUV 4:2:0, as the engine and ffmpeg do; OpenCV
to BGR, the way other formats take), moving it to limited range, BGR to I420, and each
encoder fed the same frames with the codec table's settings. CPU time of this process
per frame, median of interleaved rounds: the sum of the YUV way and an encoder is about
what an encode costs on any number of cores, which bounds how fast it can be on a few.

Run: python -m bench.stages [--frames DIR] [--count 60] [--repeat 5].
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from bench.encode import generated
from img2vid.engine.codecs import CODECS
from img2vid.engine.jpegyuv import decode_yuv420
from img2vid.engine.writers import open_writer

FPS = 5.0


def _per_frame(work: Callable[[], int]) -> float:
    """CPU milliseconds per frame of ``work`` (which returns how many frames it did)."""
    start = time.process_time()
    frames = work()
    return (time.process_time() - start) * 1000 / frames


def to_bgr(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=Path, help="a folder of JPEG frames (default: generated pan frames)")
    p.add_argument("--count", type=int, default=60, help="frames to use (default 60)")
    p.add_argument("--repeat", type=int, default=5, help="rounds; each row shows the median (default 5)")
    a = p.parse_args()
    folder = a.frames or generated(a.count, "pan")
    datas = [f.read_bytes() for f in sorted(folder.glob("*.jpg"))[: a.count]]
    size = to_bgr(datas[0]).shape[1::-1]
    cv2.setNumThreads(1)  # one thread: CPU per frame, not OpenCV's own parallelism

    yuv = [decode_yuv420(d, size) for d in datas]
    bgr = [to_bgr(d) for d in datas]
    if any(f is None for f in yuv):
        print("some frames do not take the YUV way (not 4:2:0 JPEGs of one size)")
        return 1

    def encode(codec: str) -> Callable[[], int]:
        def run() -> int:
            with tempfile.TemporaryDirectory() as tmp:
                writer = open_writer(CODECS[codec], Path(tmp) / f"out{CODECS[codec].suffix}", FPS, size)
                for frame in yuv:
                    writer.write(frame)
                writer.close()
            return len(yuv)

        return run

    stages: dict[str, Callable[[], int]] = {
        "JPEG -> yuv420p, limited range (libavcodec + lookups)": lambda: len([decode_yuv420(d, size) for d in datas]),
        "JPEG -> BGR (OpenCV)": lambda: len([to_bgr(d) for d in datas]),
        "BGR -> I420 (OpenCV)": lambda: len([cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420) for f in bgr]),
        "encode mp4v (mpeg4, its threads)": encode("mp4v"),
        "encode h264 (libx264, its threads)": encode("h264"),
        "encode vp9 (libvpx-vp9, its threads)": encode("vp9"),
    }
    times: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(a.repeat):
        for name, work in stages.items():
            times[name].append(_per_frame(work))

    print(f"\n{len(datas)} frames of {size[0]}x{size[1]} from {folder.name}, median of {a.repeat} rounds\n")
    print("| stage | CPU ms per frame |")
    print("|---|---:|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
