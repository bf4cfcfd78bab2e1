"""Finding the frames of a source: a folder or a glob, in natural order."""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from img2vid.engine.images import is_image_name
from img2vid.engine.sources import FileFrame, FrameList
from img2vid.errors import BadSourceError, NoFramesError

_DIGITS = re.compile(r"(\d+)")
_GLOB_CHARS = re.compile(r"[*?\[]")


def natural_key(name: str) -> tuple:
    """Sort key that puts ``f2`` before ``f10`` and ignores case, ties broken by the name."""
    # split() puts text at even and digits at odd indexes, so the types always line up.
    parts = _DIGITS.split(name)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)) + (name,)


@dataclass
class Discovery:
    frames: list[Path]
    skipped: list[Path] = field(default_factory=list)  # files that are not images
    where: str = ""

    def frame_list(self) -> FrameList:
        return FrameList([FileFrame(p) for p in self.frames], self.where, len(self.skipped))


def discover(
    source: str | os.PathLike[str],
    pattern: str | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    shown_as: str | None = None,
) -> Discovery:
    """List the frames in ``source`` (a folder, or a glob when it holds * ? or [).

    ``pattern`` filters file names inside a folder. Raises NoFramesError naming the folder
    and pattern when nothing is left. With ``root`` (the job service's input root), a
    frame that is a link to anything outside it is refused with BadSourceError naming
    the frame: never read, never skipped without a word. ``shown_as`` is how messages
    name a folder (the client's name for it, not the server's path).
    """
    text = os.fspath(source)
    confine = os.path.realpath(root) if root is not None else None
    if os.path.isdir(text):
        folder = Path(text)
        where = f"folder {shown_as or folder}" + (f" with pattern {pattern!r}" if pattern else "")
        try:
            # A link that leads nowhere is listed too when confined: refused by name below.
            entries = [e for e in os.scandir(folder) if e.is_file() or (confine is not None and e.is_symlink())]
        except OSError as exc:
            raise NoFramesError(f"cannot list {where}: {exc.strerror}", path=shown_as or folder) from None
        paths = [Path(e.path) for e in entries if not pattern or fnmatch.fnmatch(e.name, pattern)]
    elif _GLOB_CHARS.search(text):
        if pattern:
            text = os.path.join(text, pattern)
        where = f"glob {text!r}"
        paths = [Path(p) for p in glob.glob(text) if os.path.isfile(p)]
    else:
        raise NoFramesError(f"{text} is not a folder or a glob", path=text)

    frames = sorted((p for p in paths if is_image_name(p.name)), key=lambda p: natural_key(str(p)))
    if confine is not None:
        _check_links(frames, confine)
    skipped = [p for p in paths if not is_image_name(p.name)]
    if not frames:
        raise no_frames(where, len(skipped), shown_as or text)
    return Discovery(frames=frames, skipped=skipped, where=where)


def no_frames(where: str, skipped: int, path: str) -> NoFramesError:
    """The refusal of a folder (a volume's or a store's) that holds no frame."""
    extra = f" ({skipped} other files skipped)" if skipped else ""
    return NoFramesError(
        f"no frames in {where}: expected jpg, jpeg, png, bmp, tif, tiff or webp files{extra}", path=path
    )


def _check_links(frames: list[Path], root: str) -> None:
    for path in frames:
        if path.is_symlink():
            target = os.path.realpath(path)
            if os.path.commonpath([root, target]) != root:
                raise BadSourceError(
                    f"{path.name} is a link to a file outside the input root; only files inside it can be read",
                    path=path.name,
                )
