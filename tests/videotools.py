"""Helpers for tests that make frames and read videos back."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest


def frame_image(i: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """A frame whose brightness encodes its index (i * 10), so order can be read back."""
    w, h = size
    return np.full((h, w, 3), min(255, i * 10), np.uint8)


def read_back(path: Path) -> list[np.ndarray]:
    """Every frame of a video, decoded by OpenCV."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe (Debian's ffmpeg) is not installed")


def probe_stream(path: Path, *fields: str) -> dict:
    """The first video stream's fields as Debian's ffprobe reads them, counting every frame."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0"]
        + ["-show_entries", "stream=" + ",".join(fields), "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)["streams"][0]
