"""Fixtures: small frames the tests make themselves, and an output folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from videotools import frame_image


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
