"""The shared volume's layout, and resolving a client's folder safely inside it.

DATA_DIR/inputs/         the input root API jobs name folders in (read-only to us)
DATA_DIR/uploads/<job>/  frames uploaded for one job, saved under names we choose
DATA_DIR/outputs/<job>/  the video and poster.jpg
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote

from .errors import BadSourceError

# In uploads/<job>/: saved file name -> the name the client gave, for error messages.
NAMES_FILE = "names.json"


class Volume:
    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir)
        self.inputs = self.root / "inputs"
        self.uploads = self.root / "uploads"
        self.outputs = self.root / "outputs"

    def ensure(self) -> None:
        for d in (self.uploads, self.outputs):
            d.mkdir(parents=True, exist_ok=True)
        # The input root may be a read-only bind mount; create it only where we can.
        if not self.inputs.exists():
            try:
                self.inputs.mkdir(parents=True)
            except OSError:
                pass

    def upload_dir(self, job_id: str) -> Path:
        return self.uploads / job_id

    def output_dir(self, job_id: str) -> Path:
        return self.outputs / job_id

    def remove_job_files(self, job_id: str) -> None:
        for d in (self.upload_dir(job_id), self.output_dir(job_id)):
            shutil.rmtree(d, ignore_errors=True)

    def resolve_input(self, rel: str) -> Path:
        """The real folder ``rel`` names under the input root; BadSourceError when it is
        absolute, escapes the root (``..``, encoded dots, a symlink out), or is missing."""
        if not isinstance(rel, str):
            raise BadSourceError("source.dir must be a string")
        if "\x00" in rel:
            raise BadSourceError("source.dir must not contain NUL")
        if unquote(rel) != rel:
            raise BadSourceError("source.dir must not contain %-encoded characters")
        if rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
            raise BadSourceError(f"source.dir must be relative to the input root, got {rel!r}")
        root = os.path.realpath(self.inputs)
        target = os.path.realpath(os.path.join(root, rel))
        if os.path.commonpath([root, target]) != root:
            raise BadSourceError(f"source.dir {rel!r} points outside the input root")
        if not os.path.isdir(target):
            raise BadSourceError(f"source.dir {rel!r} is not a folder under the input root", code="source_not_found")
        return Path(target)

    def relative_input(self, path: Path) -> str:
        return os.path.relpath(path, os.path.realpath(self.inputs))
