"""Fixtures: small frames the tests make themselves, and an output folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest


def frame_image(i: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """A frame whose brightness encodes its index (i * 10), so order can be read back."""
    w, h = size
    img = np.full((h, w, 3), min(255, i * 10), np.uint8)
    return img


@pytest.fixture
def make_frames(tmp_path: Path):
    """make_frames(n, size=(64, 48), ext=".png", name="frame_{i}", folder="frames") -> folder"""

    def make(n: int, size=(64, 48), ext=".png", name="frame_{i}", folder="frames") -> Path:
        d = tmp_path / folder
        d.mkdir(exist_ok=True)
        for i in range(n):
            assert cv2.imwrite(str(d / (name.format(i=i) + ext)), frame_image(i, size))
        return d

    return make


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


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
