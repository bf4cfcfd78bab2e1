"""The encoding engine: a folder of frames in, a verified video and its poster out.

Plain Python, OpenCV and PyAV; no Celery, Redis or Flask. The CLI calls it directly and
the worker's task wraps it. Its inputs are its own too: finding frames (discovery),
reading their headers (images), the codec table (codecs) and the options (options).
Those load neither OpenCV nor numpy, so the web side validates with them; ``encode``
(and with it OpenCV) loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from img2vid.engine.discovery import Discovery, discover, natural_key
from img2vid.engine.options import EncodeOptions

if TYPE_CHECKING:
    from img2vid.engine.encoding import EncodeResult, encode

__all__ = ["Discovery", "EncodeOptions", "EncodeResult", "discover", "encode", "natural_key"]


def __getattr__(name: str):
    if name in ("encode", "EncodeResult"):
        from img2vid.engine import encoding

        return getattr(encoding, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
