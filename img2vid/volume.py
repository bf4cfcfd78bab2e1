"""The shared volume (DATA_DIR): the only code that knows where a job's files lie.

DATA_DIR/inputs/         the input root folder jobs name folders in (read-only to us)
DATA_DIR/uploads/<job>/  frames uploaded for one job, saved under names we choose
DATA_DIR/outputs/<job>/  the video and poster.jpg
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from img2vid.engine.images import is_image_name
from img2vid.errors import BadSourceError
from img2vid.job import Job

# In uploads/<job>/: saved file name -> the name the client gave, for error messages.
NAMES_FILE = "names.json"
POSTER = "poster.jpg"
AREAS = ("uploads", "outputs")
MAX_FOLDERS = 1000


@dataclass(frozen=True)
class InputFolder:
    dir: str  # as source.dir names it
    frames: int
    folders: int


@dataclass(frozen=True)
class JobFolder:
    area: str  # "uploads" or "outputs"
    job_id: str
    changed: float  # its mtime, on the file system's clock


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
            with contextlib.suppress(OSError):
                self.inputs.mkdir(parents=True)

    # --- one job's files ------------------------------------------------------------

    def upload_dir(self, job_id: str) -> Path:
        return self.uploads / job_id

    def output_dir(self, job_id: str) -> Path:
        return self.outputs / job_id

    def frames_of(self, job: Job) -> Path:
        """The folder the job's frames are read from: its upload, or its input folder
        (resolved again: BadSourceError if it has gone, or now leads out of the root)."""
        if job.upload:
            return self.upload_dir(job.id)
        assert job.spec.source is not None
        return self.resolve_input(job.spec.source.dir)

    def video_target(self, job: Job, suffix: str) -> Path:
        """Where the job's video is written: its name (or id) with the codec's suffix."""
        return self.output_dir(job.id) / f"{job.spec.name or job.id}{suffix}"

    def output_file(self, job: Job, which: str) -> Path | None:
        """A succeeded job's ``video`` or ``poster``, if the file is there."""
        assert job.result is not None
        path = self.output_dir(job.id) / (job.result.video if which == "video" else POSTER)
        return path if path.is_file() else None

    def poster_target(self, job: Job) -> Path:
        return self.output_dir(job.id) / POSTER

    def save_client_names(self, job_id: str, names: dict[str, str]) -> None:
        (self.upload_dir(job_id) / NAMES_FILE).write_text(json.dumps(names))

    def client_names(self, job: Job) -> dict[str, str]:
        """Saved frame name -> the name the client gave it (an upload's; {} otherwise)."""
        path = self.upload_dir(job.id) / NAMES_FILE
        if not job.upload or not path.exists():
            return {}
        return json.loads(path.read_text())

    def copy_upload(self, from_job: str, to_job: str) -> bool:
        """Another job's uploaded frames for a new one, as hard links (no space, and
        deleting the old job keeps them); False when they are gone."""
        src = self.upload_dir(from_job)
        if not src.is_dir():
            return False
        shutil.copytree(src, self.upload_dir(to_job), copy_function=os.link)
        return True

    def remove_upload(self, job_id: str) -> None:
        shutil.rmtree(self.upload_dir(job_id), ignore_errors=True)

    def remove_output(self, job_id: str) -> None:
        shutil.rmtree(self.output_dir(job_id), ignore_errors=True)

    def remove_job_files(self, job_id: str) -> None:
        self.remove_upload(job_id)
        self.remove_output(job_id)

    # --- every job's folders --------------------------------------------------------

    def job_folders(self) -> Iterator[JobFolder]:
        """Every folder of uploads/ and outputs/; stray files and links are not ours."""
        for area in AREAS:
            try:
                with os.scandir(self.root / area) as it:
                    entries = [e for e in it if e.is_dir(follow_symlinks=False)]
            except FileNotFoundError:
                continue
            for e in entries:
                try:
                    changed = e.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    continue  # removed meanwhile
                yield JobFolder(area, e.name, changed)

    def remove_folder(self, folder: JobFolder) -> None:
        shutil.rmtree(self.root / folder.area / folder.job_id, ignore_errors=True)

    # --- the input root -------------------------------------------------------------

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

    def list_inputs(self, rel: str) -> tuple[int, list[InputFolder]]:
        """(frames directly in it, its sub-folders) of the folder ``rel`` names under the
        input root ("" for the root; no folders when the root does not exist)."""
        folder = self.resolve_input(rel) if rel else self.inputs.resolve()
        if not folder.is_dir():
            return 0, []
        try:
            frames, _ = _count(str(folder))
            with os.scandir(folder) as it:
                dirs = sorted(
                    (e for e in it if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.name.casefold()
                )
        except OSError as exc:  # not readable by the service: say so by the client's name
            raise BadSourceError(f"the folder {rel or '(the input root)'!r} cannot be listed: {exc.strerror}") from None
        subs = []
        root = os.path.realpath(self.inputs)
        for e in dirs[:MAX_FOLDERS]:
            try:
                n, k = _count(e.path)
            except OSError:
                continue  # a sub-folder the service cannot read holds nothing it could use
            subs.append(InputFolder(os.path.relpath(e.path, root), n, k))
        return frames, subs

    # --- the volume itself -----------------------------------------------------------

    def disk_usage(self) -> shutil._ntuple_diskusage | None:
        """(total, used, free) bytes of the file system holding the volume; None when it
        cannot be read."""
        try:
            return shutil.disk_usage(self.root)
        except OSError:
            return None

    @property
    def secret_key_file(self) -> Path:
        """Where the web app keeps the session key it made (development only)."""
        return self.root / ".secret_key"


def _count(path: str) -> tuple[int, int]:
    frames = folders = 0
    with os.scandir(path) as it:
        for e in it:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                folders += 1
            elif is_image_name(e.name):
                frames += 1
    return frames, folders
