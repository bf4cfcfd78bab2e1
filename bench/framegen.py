"""Test frames, two scenes.

``textured``: a noisy scene texture over a gradient, a little sensor noise that changes
every frame, and shapes that move. Fresh full-strength noise in every frame is a worst
case no camera produces; flat colour would flatter every encoder. This sits between,
towards the hard end (about 750 KB a 1080p JPEG at quality 90).

``pan``: closer to a camera's frames. A landscape of detail at every scale (mostly in
luma, as in photographs), a camera panning 2 pixels a frame across it, mild sensor noise
and a disc moving over it (about 520 KB a 1080p JPEG at quality 90).
"""

from __future__ import annotations

import argparse
import functools
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np


def _texture(width: int, height: int) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 12, (height, width, 1)).astype(np.float32)


SCENES = ("textured", "pan")
_PAN_STEP = 2  # pixels a frame
_PAN_MARGIN = 256  # the landscape is this much wider than a frame; the pan wraps around


@functools.cache
def _landscape(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    w, h = width + _PAN_MARGIN, height
    land = np.zeros((h, w, 3), np.float32)
    # Octaves of smoothed noise, coarse to fine; only the coarsest carries colour.
    for cell, amplitude, channels in ((256, 50, 3), (64, 25, 1), (16, 14, 1), (4, 8, 1), (1, 4, 1)):
        coarse = rng.normal(0, 1, (h // cell + 2, w // cell + 2, channels)).astype(np.float32)
        fine = cv2.resize(coarse, (w + 2 * cell, h + 2 * cell), interpolation=cv2.INTER_CUBIC)[:h, :w]
        land += (fine if fine.ndim == 3 else fine[:, :, None]) * amplitude
    sky_to_ground = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    land += np.array([210, 170, 130], np.float32) * (1 - sky_to_ground)
    land += np.array([50, 100, 80], np.float32) * sky_to_ground
    return land


def make_pan_frame(i: int, width: int, height: int) -> np.ndarray:
    x0 = (i * _PAN_STEP) % _PAN_MARGIN
    img = _landscape(width, height)[:, x0 : x0 + width].copy()
    img += np.random.default_rng(i + 1).normal(0, 1.5, (height, width, 1)).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    t = i / 30.0
    centre = (int((0.5 + 0.4 * np.sin(t)) * width), int((0.5 + 0.4 * np.cos(t * 1.3)) * height))
    cv2.circle(img, centre, min(width, height) // 6, (30, 180, 250), -1, cv2.LINE_AA)
    return img


def make_frame(i: int, width: int, height: int, scene: str = "textured") -> np.ndarray:
    if scene == "pan":
        return make_pan_frame(i, width, height)
    rng = np.random.default_rng(i + 1)
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    base = np.empty((height, width, 3), np.float32)
    base[:, :, 0] = x * 0.6 + 40
    base[:, :, 1] = y * 0.6 + 40
    base[:, :, 2] = (x + y) * 0.3 + 30
    base += _texture(width, height)
    base += rng.normal(0, 2, (height, width, 1)).astype(np.float32)
    img = np.clip(base, 0, 255).astype(np.uint8)
    s = min(width, height)
    t = i / 30.0
    cx = int((0.5 + 0.4 * np.sin(t)) * width)
    cy = int((0.5 + 0.4 * np.cos(t * 1.3)) * height)
    cv2.circle(img, (cx, cy), s // 6, (30, 180, 250), -1)
    x0 = int((i * 7) % width)
    cv2.rectangle(img, (x0, s // 8), (x0 + s // 4, s // 8 + s // 3), (250, 90, 20), -1)
    cv2.putText(
        img,
        f"frame {i:05d}",
        (s // 20, height - s // 20),
        cv2.FONT_HERSHEY_SIMPLEX,
        s / 400,
        (255, 255, 255),
        max(1, s // 200),
    )
    return img


def _write(args: tuple[Path, int, int, int, int, str]) -> None:
    folder, i, width, height, quality, scene = args
    ok, jpeg = cv2.imencode(".jpg", make_frame(i, width, height, scene), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    # Whole or not at all: the folder is kept for next time, and a frame cut short by an
    # interrupted run would be taken for a finished one.
    part = folder / f"frame_{i:05d}.jpg.part"
    part.write_bytes(jpeg.tobytes())
    os.replace(part, folder / f"frame_{i:05d}.jpg")


def ensure_frames(
    folder: Path, count: int, width: int = 1920, height: int = 1080, quality: int = 90, scene: str = "textured"
) -> Path:
    """Write ``count`` frames of ``scene`` into ``folder`` unless they are there already."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not (folder / f"frame_{i:05d}.jpg").exists()]
    if missing:
        with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
            jobs = [(folder, i, width, height, quality, scene) for i in missing]
            list(pool.map(_write, jobs, chunksize=8))
    return folder


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("folder", type=Path)
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--scene", choices=SCENES, default="textured")
    a = p.parse_args()
    w, h = map(int, a.size.split("x"))
    ensure_frames(a.folder, a.count, w, h, scene=a.scene)
