"""Image files: which count as frames, and their size read from the header alone.

Pillow only (no OpenCV, no numpy), so the web side can check uploads before a worker
ever sees them.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path, PurePath
from typing import BinaryIO

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


def is_jpeg_name(name: str) -> bool:
    return PurePath(name).suffix.lower() in JPEG_SUFFIXES


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
    return check_frame_bytes(path.name, file_size(path), max_bytes)


def check_frame_bytes(name: str, size: int, max_bytes: int) -> int:
    """``size``, or FrameTooLargeError naming frame ``name`` when it is over ``max_bytes``."""
    if size > max_bytes:
        raise too_many_bytes(name, max_bytes, size)
    return size


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise UnreadableFrameError(f"{path.name}: cannot read ({exc.strerror})", path=path.name) from None


def probe_size(path: Path, max_pixels: int, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> tuple[int, int]:
    """The frame's (width, height) as it will be decoded, read from its header only.

    Raises FrameTooLargeError above ``max_pixels`` or ``max_bytes`` and
    UnreadableFrameError when the header cannot be read.
    """
    check_file_size(path, max_bytes)
    return _header(path.name, path, max_pixels, str(path))


def probe_stream(name: str, stream: BinaryIO, max_pixels: int) -> tuple[int, int]:
    """As ``probe_size``, for frame ``name`` read from ``stream`` (left where it was);
    its byte limit is the caller's to check."""
    at = stream.tell()
    try:
        return _header(name, stream, max_pixels)
    finally:
        stream.seek(at)


def probe_bytes(name: str, data: bytes, max_pixels: int) -> tuple[int, int]:
    """As ``probe_size``, for frame ``name`` whose bytes are at hand (a store's)."""
    return _header(name, io.BytesIO(data), max_pixels)


def _header(name: str, source: Path | BinaryIO, max_pixels: int, hide: str | None = None) -> tuple[int, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(source) as im:
                w, h = im.size
                if is_jpeg_name(name) and im.getexif().get(_EXIF_ORIENTATION) in _ROTATED:
                    w, h = h, w
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Pillow's words may hold the file's full path: only its name leaves here.
        why = str(exc).replace(hide, name) if hide else str(exc)
        raise UnreadableFrameError(f"{name}: not a readable image ({why})", path=name) from None
    if w <= 0 or h <= 0:
        raise UnreadableFrameError(f"{name}: image has no pixels", path=name)
    if w * h > max_pixels:
        raise FrameTooLargeError(
            f"{name}: {w}x{h} is {w * h / 1e6:.1f} megapixels, over the limit of "
            f"{max_pixels / 1e6:g} megapixels (IMG2VID_MAX_PIXELS)",
            path=name,
        )
    return w, h


def read_bytes(path: Path, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    """The frame file's bytes, refused (naming the file) over ``max_bytes``, unreadable,
    or a JPEG cut short."""
    try:
        with open(path, "rb") as f:
            # Never more than the limit, even if the file grew after it was checked;
            # read(limit) itself would set aside the whole limit for every frame.
            data = f.read(min(os.fstat(f.fileno()).st_size, max_bytes) + 1)
    except OSError as exc:
        raise UnreadableFrameError(f"{path.name}: cannot read ({exc.strerror})", path=path.name) from None
    return checked_bytes(path.name, data, max_bytes)


def checked_bytes(name: str, data: bytes, max_bytes: int) -> bytes:
    """A frame's bytes, wherever they were read from, refused over ``max_bytes`` or as a
    JPEG cut short."""
    if len(data) > max_bytes:
        raise too_many_bytes(name, max_bytes)
    # libjpeg fills a cut-off JPEG with grey and only warns; a whole JPEG ends with EOI
    # (some cameras pad it with zeros after that).
    if is_jpeg_name(name) and data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        raise UnreadableFrameError(
            f"{name}: truncated JPEG, or other data after its end (no end-of-image marker at its end)", path=name
        )
    return data
