"""Where the video and its poster go: temporary files beside the target, moved into
place only when whole, and removed on any failure."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from img2vid.errors import OutputExistsError, OutputUnwritableError


def poster_path_for(video: Path) -> Path:
    return video.with_name(video.stem + ".poster.jpg")


class OutputFiles:
    """The video and poster targets and their temporary twins."""

    def __init__(self, video: Path, poster: Path | None = None, *, overwrite: bool = False) -> None:
        self.video = video
        self.poster = poster or poster_path_for(video)
        self.overwrite = overwrite
        token = secrets.token_hex(4)
        # Temporaries keep the real suffix: the muxer picks the container from it.
        self.tmp_video = self._tmp(self.video, token)
        self.tmp_poster = self._tmp(self.poster, token)
        self._placed: list[Path] = []

    @staticmethod
    def _tmp(target: Path, token: str) -> Path:
        return target.with_name(f".{target.stem}.{token}.part{target.suffix}")

    def check(self) -> None:
        """Fail early when the folder is missing or read-only, or a target exists."""
        folder = self.video.parent
        if not folder.is_dir():
            raise OutputUnwritableError(f"output folder {folder} does not exist", path=folder)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputUnwritableError(f"output folder {folder} is not writable", path=folder)
        if not self.overwrite:
            for target in (self.video, self.poster):
                if target.exists():
                    raise OutputExistsError(
                        f"{target} already exists; choose another name or allow overwriting", path=target
                    )
        # Prove we can create a file there (a read-only mount passes os.access as root).
        try:
            with open(self.tmp_video, "xb"):
                pass
        except OSError as exc:
            raise OutputUnwritableError(f"cannot write in {folder}: {exc.strerror}", path=folder) from None

    def place(self, *, with_poster: bool = True) -> None:
        """Move both temporaries into place (the video alone without ``with_poster``);
        after a failure neither target is left."""
        pairs = [(self.tmp_video, self.video)] + ([(self.tmp_poster, self.poster)] if with_poster else [])
        try:
            for tmp, target in pairs:
                self._move(tmp, target)
                self._placed.append(target)
        except BaseException:
            for target in self._placed:
                target.unlink(missing_ok=True)
            raise

    def _move(self, tmp: Path, target: Path) -> None:
        if self.overwrite:
            os.replace(tmp, target)  # atomic: readers see the old file or the new, never half
            return
        try:
            # link() fails if the target appeared meanwhile, so nothing is clobbered.
            os.link(tmp, target)
        except FileExistsError:
            raise OutputExistsError(
                f"{target} already exists; choose another name or allow overwriting", path=target
            ) from None
        except OSError:
            # No hard links on this filesystem: check, then rename.
            if target.exists():
                raise OutputExistsError(
                    f"{target} already exists; choose another name or allow overwriting", path=target
                ) from None
            os.replace(tmp, target)
            return
        os.unlink(tmp)

    def discard(self) -> None:
        for tmp in (self.tmp_video, self.tmp_poster):
            tmp.unlink(missing_ok=True)
