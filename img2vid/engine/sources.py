"""The frames of one encode, in order, and how each is read: files on a disk here, or
objects in a store (img2vid.storage makes those), behind one small protocol.

No OpenCV here: the web side lists frames with it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from img2vid.engine.images import file_size, probe_size, read_bytes


class Frame(Protocol):
    """One frame: its file name (the suffix says what it is; messages name it) and its bytes."""

    @property
    def name(self) -> str: ...

    def read(self, max_bytes: int) -> bytes:
        """Its bytes: UnreadableFrameError or FrameTooLargeError naming it otherwise."""
        ...

    def size(self) -> int:
        """Its size in bytes, without reading it (UnreadableFrameError when it cannot be known)."""
        ...

    def header(self, max_pixels: int, max_bytes: int) -> tuple[int, int] | None:
        """Its (width, height) from its header alone, or None where that costs a read of
        its own (an object in a store): the engine then reads it from the bytes."""
        ...


@dataclass(frozen=True)
class FileFrame:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def read(self, max_bytes: int) -> bytes:
        return read_bytes(self.path, max_bytes)

    def size(self) -> int:
        return file_size(self.path)

    def header(self, max_pixels: int, max_bytes: int) -> tuple[int, int]:
        return probe_size(self.path, max_pixels, max_bytes)


@dataclass
class FrameList:
    """What the engine encodes: ``frames`` in order, ``where`` names them in messages."""

    frames: list[Frame]
    where: str
    skipped: int = 0  # files beside them that are not images
    # Reads kept in flight ahead of the decoder: 0 reads in the decode threads (files),
    # N > 0 is for a store whose every read waits on the network.
    fetch_ahead: int = 0
    # Called when the encode stops early, so that reads waiting on a store give up
    # rather than hold the stop up.
    on_stop: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self.on_stop is not None:
            self.on_stop()
