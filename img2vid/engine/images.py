"""Image files: which count as frames, and their size read from the header alone.

Pillow only (no OpenCV, no numpy), so the web side can check uploads before a worker
ever sees them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from img2vid.engine.options import DEFAULT_MAX_FRAME_BYTES
from img2vid.errors import FrameTooLargeError, UnreadableFrameError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
_EXIF_ORIENTATION = 0x0112
_ROTATED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height

# We check the pixel limit ourselves, before decoding, with a message naming the file.
Image.MAX_IMAGE_PIXELS = None


def is_image_name(name: str) -> bool:
    # Dot files include macOS's "._frame.jpg" resource forks, which are not images.
    return Path(name).suffix.lower() in IMAGE_SUFFIXES and not Path(name).name.startswith(".")


def too_many_bytes(name: str, max_bytes: int, size: int | None = None) -> FrameTooLargeError:
    """The refusal of frame ``name`` (``size`` bytes, when known) over the byte limit."""
    what = f"the file is {size:,} bytes, over" if size is not None else "the file is over"
    return FrameTooLargeError(
        f"{name}: {what} the limit of {max_bytes:,} bytes per frame (IMG2VID_MAX_FRAME_BYTES)", path=name
    )


def check_file_size(path: Path, max_bytes: int) -> int:
    """The file's size in bytes; FrameTooLargeError above ``max_bytes`` (a frame padded
    to gigabytes would otherwise be read whole into memory). Either refusal names the
    file alone, never the folder it is in."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableFrameError(f"{path.name}: cannot read ({exc.strerror})", path=path.name) from None
    if size > max_bytes:
        raise too_many_bytes(path.name, max_bytes, size)
    return size


def probe_size(path: Path, max_pixels: int, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> tuple[int, int]:
    """The frame's (width, height) as it will be decoded, read from its header only.

    Raises FrameTooLargeError above ``max_pixels`` or ``max_bytes`` and
    UnreadableFrameError when the header cannot be read.
    """
    check_file_size(path, max_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                w, h = im.size
                if path.suffix.lower() in JPEG_SUFFIXES and im.getexif().get(_EXIF_ORIENTATION) in _ROTATED:
                    w, h = h, w
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Pillow's words may hold the file's full path: only its name leaves here.
        why = str(exc).replace(str(path), path.name)
        raise UnreadableFrameError(f"{path.name}: not a readable image ({why})", path=path) from None
    if w <= 0 or h <= 0:
        raise UnreadableFrameError(f"{path.name}: image has no pixels", path=path)
    if w * h > max_pixels:
        raise FrameTooLargeError(
            f"{path.name}: {w}x{h} is {w * h / 1e6:.1f} megapixels, over the limit of "
            f"{max_pixels / 1e6:g} megapixels (IMG2VID_MAX_PIXELS)",
            path=path,
        )
    return w, h
