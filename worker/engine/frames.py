"""Reading one frame: its size from the header, then its pixels as 8-bit BGR."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from img2vid.errors import FrameTooLargeError, UnreadableFrameError

# We check the pixel limit ourselves, before decoding, with a message naming the file.
Image.MAX_IMAGE_PIXELS = None
# OpenCV logs decoder complaints on stderr; we report each failure once, naming the file.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

_JPEG = frozenset({".jpg", ".jpeg"})
_EXIF_ORIENTATION = 0x0112
_ROTATED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height


def probe_size(path: Path, max_pixels: int) -> tuple[int, int]:
    """The frame's (width, height) as it will be decoded, read from its header only.

    Raises FrameTooLargeError above ``max_pixels`` and UnreadableFrameError when the
    header cannot be read.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                w, h = im.size
                if path.suffix.lower() in _JPEG and im.getexif().get(_EXIF_ORIENTATION) in _ROTATED:
                    w, h = h, w
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableFrameError(f"{path.name}: not a readable image ({exc})", path=path) from None
    if w <= 0 or h <= 0:
        raise UnreadableFrameError(f"{path.name}: image has no pixels", path=path)
    if w * h > max_pixels:
        raise FrameTooLargeError(
            f"{path.name}: {w}x{h} is {w * h / 1e6:.1f} megapixels, over the limit of "
            f"{max_pixels / 1e6:g} megapixels",
            path=path,
        )
    return w, h


def read_frame(path: Path) -> np.ndarray:
    """Decode ``path`` to an 8-bit BGR array; UnreadableFrameError names a bad file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFrameError(f"{path.name}: cannot read ({exc.strerror})", path=path) from None
    is_jpeg = path.suffix.lower() in _JPEG
    # libjpeg fills a cut-off JPEG with grey and only warns; a whole JPEG ends with EOI.
    if is_jpeg and data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        raise UnreadableFrameError(f"{path.name}: truncated JPEG (no end-of-image marker)", path=path)
    # JPEG is always 8-bit and IMREAD_COLOR applies its EXIF orientation; the others are
    # read unchanged so that alpha and 16-bit samples can be handled below.
    flags = cv2.IMREAD_COLOR if is_jpeg else cv2.IMREAD_UNCHANGED
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if img is None or img.size == 0:
        raise UnreadableFrameError(f"{path.name}: not a decodable image (corrupt or truncated)", path=path)
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
