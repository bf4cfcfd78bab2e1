"""Placing a frame of any size into the output size: contain, cover or stretch."""

from __future__ import annotations

import cv2
import numpy as np


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = size
    return max(2, w - w % 2), max(2, h - h % 2)


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    shrinking = w * h < img.shape[0] * img.shape[1]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def fit_frame(img: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """Return ``img`` as exactly ``size`` (w, h): ``contain`` letterboxes on black,
    ``cover`` fills and crops the centre, ``stretch`` ignores the aspect ratio."""
    W, H = size
    h, w = img.shape[:2]
    if (w, h) == (W, H):
        return img
    if mode == "stretch":
        return _resize(img, W, H)

    scale = min(W / w, H / h) if mode == "contain" else max(W / w, H / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    # A frame one pixel off (an odd size made even for yuv420p) is cropped or padded,
    # not resampled, so it stays sharp.
    if abs(nw - w) <= 1 and abs(nh - h) <= 1:
        scaled = img
        nh, nw = h, w
    else:
        scaled = _resize(img, nw, nh)

    # Centre it: crop where it is larger than the output, pad with black where smaller.
    sx, dx = max(0, (nw - W) // 2), max(0, (W - nw) // 2)
    sy, dy = max(0, (nh - H) // 2), max(0, (H - nh) // 2)
    cw, ch = min(nw, W), min(nh, H)
    if (cw, ch) == (W, H):
        return np.ascontiguousarray(scaled[sy : sy + H, sx : sx + W])
    out = np.zeros((H, W, 3), np.uint8)
    out[dy : dy + ch, dx : dx + cw] = scaled[sy : sy + ch, sx : sx + cw]
    return out
