"""The data volume (DATA_DIR), shared by web and workers on one host.

DATA_DIR/inputs/         the input root folder jobs name folders in (read-only to us)
DATA_DIR/uploads/<job>/  frames uploaded for one job, saved under names we choose
DATA_DIR/outputs/<job>/  the video and poster.jpg
DATA_DIR/segments/<job>/ a split job's segments (0.mp4, 1.mp4, ...) and poster.jpg
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from img2vid.engine.discovery import discover
from img2vid.engine.images import is_image_name
from img2vid.engine.sources import FrameList
from img2vid.errors import BadSourceError
from img2vid.job import Job
from img2vid.storage.base import (
    AREAS,
    MAX_FOLDERS,
    NAMES_FILE,
    POSTER,
    InputFolder,
    JobFolder,
    OutputSlot,
    SegmentParts,
    StopCheck,
    Storage,
    StoredFile,
    Usage,
    check_input_dir,
)

_CHUNK = 1 << 20


class LocalFile(StoredFile):
    def __init__(self, path: Path) -> None:
        st = path.stat()
        self.name, self.size, self.modified, self.etag = path.name, st.st_size, st.st_mtime, None
        self._path = path

    @property
    def path(self) -> Path:
        return self._path

    def open(self, offset: int = 0) -> BinaryIO:
        f = open(self._path, "rb")  # noqa: SIM115 (the caller closes it)
        f.seek(offset)
        return f


class LocalSlot(OutputSlot):
    """The engine writes straight into outputs/<job>/, by temporaries moved into place."""

    def __init__(self, video: Path, poster: Path) -> None:
        self.video, self.poster = video, poster
        video.parent.mkdir(parents=True, exist_ok=True)

    def publish(self, stop: StopCheck | None = None) -> None:
        pass  # the engine placed both files whole


class LocalStorage(Storage):
    kind = "local"

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir)
        self.inputs = self.root / "inputs"
        self.uploads = self.root / "uploads"
        self.outputs = self.root / "outputs"
        self.segments = self.root / "segments"

    def describe(self) -> str:
        return "the data volume"

    def ensure(self) -> None:
        for d in (self.uploads, self.outputs, self.segments):
            d.mkdir(parents=True, exist_ok=True)
        # The input root may be a read-only bind mount; create it only where we can.
        if not self.inputs.exists():
            with contextlib.suppress(OSError):
                self.inputs.mkdir(parents=True)

    def usage(self) -> Usage | None:
        """(total, used, free) bytes of the file system holding the volume."""
        try:
            u = shutil.disk_usage(self.root)
        except OSError:
            return None
        return Usage(u.total, u.used, u.free)

    # --- the input root -------------------------------------------------------------

    def resolve_input(self, rel: str) -> Path:
        """The real folder ``rel`` names under the input root; BadSourceError when it is
        absolute, escapes the root (``..``, encoded dots, a symlink out), or is missing."""
        check_input_dir(rel)
        root = os.path.realpath(self.inputs)
        target = os.path.realpath(os.path.join(root, rel))
        if os.path.commonpath([root, target]) != root:
            raise BadSourceError(f"source.dir {rel!r} points outside the input root")
        if not os.path.isdir(target):
            raise BadSourceError(f"source.dir {rel!r} is not a folder under the input root", code="source_not_found")
        return Path(target)

    def input_frames(self, rel: str, pattern: str | None = None, stop: StopCheck | None = None) -> FrameList:
        # Links out of the input root are refused by name (discover's root).
        return discover(self.resolve_input(rel), pattern, root=self.inputs, shown_as=rel).frame_list()

    def list_inputs(self, rel: str) -> tuple[int, list[InputFolder]]:
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

    # --- one job's files ------------------------------------------------------------

    def upload_dir(self, job_id: str) -> Path:
        return self.uploads / job_id

    def output_dir(self, job_id: str) -> Path:
        return self.outputs / job_id

    def save_upload(self, job_id: str, frames: Iterable[tuple[str, BinaryIO]], names: dict[str, str]) -> None:
        dest = self.upload_dir(job_id)
        dest.mkdir(parents=True)
        for saved, stream in frames:
            with contextlib.closing(stream), open(dest / saved, "wb") as out:
                shutil.copyfileobj(stream, out, _CHUNK)
        (dest / NAMES_FILE).write_text(json.dumps(names))

    def client_names(self, job: Job) -> dict[str, str]:
        path = self.upload_dir(job.id) / NAMES_FILE
        if not job.upload or not path.exists():
            return {}
        return json.loads(path.read_text())

    def copy_upload(self, from_job: str, to_job: str) -> bool:
        """As hard links: no space, and deleting the old job keeps them."""
        src = self.upload_dir(from_job)
        if not src.is_dir():
            return False
        shutil.copytree(src, self.upload_dir(to_job), copy_function=os.link)
        return True

    def upload_frames(self, job: Job, stop: StopCheck | None = None) -> FrameList:
        folder = self.upload_dir(job.id)
        # Confined to its own folder: nothing in an upload may lead elsewhere.
        return discover(folder, root=folder, shown_as="the uploaded frames").frame_list()

    def output_slot(self, job: Job, suffix: str) -> OutputSlot:
        out = self.output_dir(job.id)
        return LocalSlot(out / f"{job.spec.name or job.id}{suffix}", out / POSTER)

    def segment_slot(self, job: Job, index: int, suffix: str) -> OutputSlot:
        folder = self.segments / job.id
        return LocalSlot(folder / f"{index}{suffix}", folder / POSTER)

    @contextlib.contextmanager
    def segment_parts(self, job: Job, count: int, suffix: str) -> Iterator[SegmentParts]:
        folder = self.segments / job.id
        yield SegmentParts([folder / f"{i}{suffix}" for i in range(count)], folder / POSTER)

    def remove_segments(self, job_id: str) -> None:
        shutil.rmtree(self.segments / job_id, ignore_errors=True)

    def output_file(self, job: Job, which: str) -> StoredFile | None:
        assert job.result is not None
        path = self.output_dir(job.id) / (job.result.video if which == "video" else POSTER)
        try:
            return LocalFile(path) if path.is_file() else None
        except FileNotFoundError:  # removed meanwhile
            return None

    def remove_upload(self, job_id: str) -> None:
        shutil.rmtree(self.upload_dir(job_id), ignore_errors=True)

    def remove_output(self, job_id: str) -> None:
        shutil.rmtree(self.output_dir(job_id), ignore_errors=True)

    def private_places(self, job: Job) -> dict[str, str]:
        spots: list[tuple[Path, str]] = []
        if job.upload:
            spots.append((self.upload_dir(job.id), "the uploaded frames"))
        elif job.spec.source is not None:
            with contextlib.suppress(BadSourceError):
                spots.append((self.resolve_input(job.spec.source.dir), job.spec.source.dir))
        spots += [
            (self.output_dir(job.id), "the job's output folder"),
            (self.segments / job.id, "the job's segments folder"),
            (self.root, "the data volume"),
        ]
        places = {}
        for place, words in spots:  # the deepest first: an output folder is inside the volume
            for form in (str(place), str(place.resolve())):
                places.setdefault(form, words)
        return places

    # --- every job's folders --------------------------------------------------------

    def job_folders(self) -> Iterator[JobFolder]:
        """Every folder of uploads/ and outputs/; stray files and links are not ours. A
        folder's mtime changes with every file written into it."""
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
