"""The storage seam: where job files live, behind one interface with two implementations,
the data volume (local.py) and an S3-compatible object store (s3.py).

Either holds four areas: ``inputs/`` (the input root that folder jobs name folders in;
read-only to the service), ``uploads/<job>/`` (frames uploaded for one job, saved under
names the service chooses, with the client's names beside them), ``outputs/<job>/``
(the video and its poster) and ``segments/<job>/`` (a split job's segments until they
are joined, and the first one's poster). Nothing outside this package knows a path or a key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from img2vid.engine.sources import FrameList
from img2vid.errors import BadSourceError
from img2vid.job import Job

# In uploads/<job>/: saved file name -> the name the client gave, for error messages.
NAMES_FILE = "names.json"
POSTER = "poster.jpg"
AREAS = ("uploads", "outputs", "segments")
MAX_FOLDERS = 1000
StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class InputFolder:
    dir: str  # as source.dir names it
    frames: int
    folders: int


@dataclass(frozen=True)
class JobFolder:
    area: str  # "uploads" or "outputs"
    job_id: str
    changed: float  # its newest change, on the storage's clock


@dataclass(frozen=True)
class Usage:
    """How full the storage is, where it has a size (a disk; a bucket has none)."""

    total: int
    used: int
    free: int


class StoredFile(ABC):
    """A finished job's video or poster, as web serves it."""

    name: str
    size: int
    etag: str | None
    modified: float | None

    @property
    def path(self) -> Path | None:
        """A file on this machine's disk (sent with sendfile), or None."""
        return None

    def presigned_url(self) -> str | None:
        """A short-lived URL the client may fetch it from directly, or None."""
        return None

    def open(self, offset: int = 0) -> BinaryIO:
        """Its bytes from ``offset`` on, as a stream."""
        raise NotImplementedError


class OutputSlot(ABC):
    """Where one run writes a job's video and poster (files on this machine), and how
    they become the job's outputs once whole."""

    video: Path
    poster: Path

    @abstractmethod
    def publish(self, stop: StopCheck | None = None) -> None:
        """Make the written files the job's outputs, whole or not at all."""

    def close(self) -> None:  # noqa: B027 (most slots leave nothing behind)
        """Remove what this slot wrote on this machine that is not published."""

    def __enter__(self) -> OutputSlot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class SegmentParts:
    videos: list[Path]  # in order
    poster: Path  # the first segment's: the job's first frame


class Storage(ABC):
    kind: str  # "local" or "s3"

    @abstractmethod
    def describe(self) -> str:
        """What the storage is, in a message's words ("the data volume", "bucket 'x'")."""

    def ensure(self) -> None:  # noqa: B027
        """Make what must exist (the volume's folders). A bucket is the operator's to
        make: a store that is away or refuses is answered per request (check())."""

    def check(self) -> None:  # noqa: B027
        """Raise StorageUnavailableError or StorageDeniedError when it cannot be used."""

    def usage(self) -> Usage | None:
        return None

    def download_origin(self) -> str | None:
        """The origin (scheme://host[:port]) that clients download from directly, when
        downloads are redirected there; None when they come through web."""
        return None

    # --- the input root -------------------------------------------------------------

    @abstractmethod
    def input_frames(self, rel: str, pattern: str | None = None, stop: StopCheck | None = None) -> FrameList:
        """The frames of the folder ``rel`` names under the input root, in natural
        order; BadSourceError when it is malformed or missing, NoFramesError when empty."""

    @abstractmethod
    def list_inputs(self, rel: str) -> tuple[int, list[InputFolder]]:
        """(frames directly in it, its sub-folders) of the folder ``rel`` names under
        the input root ("" for the root)."""

    # --- one job's files --------------------------------------------------------------

    @abstractmethod
    def save_upload(self, job_id: str, frames: Iterable[tuple[str, BinaryIO]], names: dict[str, str]) -> None:
        """Store each (saved name, stream) as the job's uploaded frames, then ``names``
        (saved name -> the client's). The streams are read to their end."""

    @abstractmethod
    def copy_upload(self, from_job: str, to_job: str) -> bool:
        """Another job's uploaded frames for a new job; False when they are gone."""

    @abstractmethod
    def client_names(self, job: Job) -> dict[str, str]:
        """Saved frame name -> the name the client gave it (an upload's; {} otherwise)."""

    def frames_of(self, job: Job, stop: StopCheck | None = None) -> FrameList:
        """The frames a job encodes: its upload, or its input folder (looked up again:
        BadSourceError if it has gone)."""
        if job.upload:
            return self.upload_frames(job, stop)
        assert job.spec.source is not None
        return self.input_frames(job.spec.source.dir, job.spec.source.pattern, stop)

    @abstractmethod
    def upload_frames(self, job: Job, stop: StopCheck | None = None) -> FrameList: ...

    @abstractmethod
    def output_slot(self, job: Job, suffix: str) -> OutputSlot:
        """Where a run writes the job's video (its name, or id, and ``suffix``) and poster."""

    @abstractmethod
    def segment_slot(self, job: Job, index: int, suffix: str) -> OutputSlot:
        """Where a run writes segment ``index`` of a split job (the poster: segment 0's
        only); published, it is what ``segment_parts`` gives the join."""

    @abstractmethod
    def segment_parts(self, job: Job, count: int, suffix: str) -> AbstractContextManager[SegmentParts]:
        """The ``count`` segments of a split job as files on this machine, for the join."""

    @abstractmethod
    def remove_segments(self, job_id: str) -> None: ...

    @abstractmethod
    def output_file(self, job: Job, which: str) -> StoredFile | None:
        """A succeeded job's ``video`` or ``poster``, if it is there."""

    @abstractmethod
    def remove_upload(self, job_id: str) -> None: ...

    @abstractmethod
    def remove_output(self, job_id: str) -> None: ...

    def remove_job_files(self, job_id: str) -> None:
        self.remove_upload(job_id)
        self.remove_output(job_id)
        self.remove_segments(job_id)

    def private_places(self, job: Job) -> dict[str, str]:
        """Server places a library's message may name -> the words a client reads for
        them, the deepest first."""
        return {}

    # --- every job's folders --------------------------------------------------------

    @abstractmethod
    def job_folders(self) -> Iterator[JobFolder]:
        """Every job folder of uploads/ and outputs/, with its newest change."""

    @abstractmethod
    def remove_folder(self, folder: JobFolder) -> None: ...


def check_input_dir(rel: object) -> str:
    """``rel`` as source.dir names a folder under the input root, refused (BadSourceError)
    when it is not a plain relative name: the same rules for the volume and the store."""
    if not isinstance(rel, str):
        raise BadSourceError("source.dir must be a string")
    if "\x00" in rel:
        raise BadSourceError("source.dir must not contain NUL")
    if unquote(rel) != rel:
        raise BadSourceError("source.dir must not contain %-encoded characters")
    if rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise BadSourceError(f"source.dir must be relative to the input root, got {rel!r}")
    return rel
