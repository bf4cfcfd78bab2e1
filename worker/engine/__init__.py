"""The encoding engine: plain Python and OpenCV, no Celery."""

from img2vid.discovery import Discovery, discover, natural_key
from .encoding import EncodeResult, encode

__all__ = ["Discovery", "EncodeResult", "discover", "encode", "natural_key"]
