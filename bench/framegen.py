"""Textured test frames: a noisy scene texture over a gradient, a little sensor noise
that changes every frame, and shapes that move.

Fresh full-strength noise in every frame is a worst case no camera produces; flat colour
would flatter every encoder. This sits between.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np


def _texture(width: int, height: int) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 12, (height, width, 1)).astype(np.float32)


def make_frame(i: int, width: int, height: int) -> np.ndarray:
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


def _write(args: tuple[Path, int, int, int, int]) -> None:
    folder, i, width, height, quality = args
    cv2.imwrite(str(folder / f"frame_{i:05d}.jpg"), make_frame(i, width, height), [cv2.IMWRITE_JPEG_QUALITY, quality])


def ensure_frames(folder: Path, count: int, width: int = 1920, height: int = 1080, quality: int = 90) -> Path:
    """Write ``count`` frames into ``folder`` unless they are there already."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not (folder / f"frame_{i:05d}.jpg").exists()]
    if missing:
        with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
            list(pool.map(_write, [(folder, i, width, height, quality) for i in missing], chunksize=8))
    return folder


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("folder", type=Path)
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--size", default="1920x1080")
    a = p.parse_args()
    w, h = map(int, a.size.split("x"))
    ensure_frames(a.folder, a.count, w, h)
