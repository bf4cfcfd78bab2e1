"""Reading one frame: its pixels as 8-bit BGR (its size comes from img2vid.engine.images)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from img2vid.engine.images import is_jpeg_name, read_bytes
from img2vid.engine.options import DEFAULT_MAX_FRAME_BYTES
from img2vid.errors import UnreadableFrameError

# OpenCV logs decoder complaints on stderr; we report each failure once, naming the file.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def read_frame(path: Path, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> np.ndarray:
    """Decode ``path`` to an 8-bit BGR array; UnreadableFrameError names a bad file."""
    return decode_bgr(path.name, read_bytes(path, max_bytes))


def decode_bgr(name: str, data: bytes) -> np.ndarray:
    """Decode the bytes of frame ``name`` (its suffix says what it is) to 8-bit BGR."""
    # JPEG is always 8-bit and IMREAD_COLOR applies its EXIF orientation; the others are
    # read unchanged so that alpha and 16-bit samples can be handled below.
    flags = cv2.IMREAD_COLOR if is_jpeg_name(name) else cv2.IMREAD_UNCHANGED
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:  # OpenCV asserts rather than answering None for some inputs
        img = None
    if img is None or img.size == 0:
        raise UnreadableFrameError(f"{name}: not a decodable image (corrupt or truncated)", path=name)
    return to_bgr8(img)


def to_bgr8(img: np.ndarray) -> np.ndarray:
    """Grey, alpha, 16-bit and float images become 8-bit, 3-channel BGR."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        peak = 1.0 if float(np.nanmax(img)) <= 1.0 else 255.0
        img = np.clip(np.nan_to_num(img) * (255.0 / peak), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)

    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    channels = img.shape[2]
    if channels == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if channels == 4:
        # Composite over black, the colour letterboxing uses, rather than exposing what
        # the transparent pixels happen to hold.
        alpha = img[:, :, 3:4].astype(np.uint16)
        return ((img[:, :, :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    if channels == 2:  # grey + alpha
        grey = ((img[:, :, 0].astype(np.uint16) * img[:, :, 1] + 127) // 255).astype(np.uint8)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return img
