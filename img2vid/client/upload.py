"""An upload's body: the frames as one ZIP_STORED archive in a multipart/form-data body,
written frame by frame into a temporary file and streamed from it, so memory stays flat
whatever the frame count."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from img2vid.client.errors import ClientError
from img2vid.engine.discovery import discover

CHUNK = 1 << 16


def write_upload(out: IO[bytes], frames: Iterable[Path], fields: Mapping[str, str], boundary: str) -> None:
    """Write a multipart/form-data body: ``fields`` as text parts, then ``frames`` as one
    zip (stored, not compressed; members named by the files' names, in order) in the
    ``archive`` part. The zip is written straight into ``out``, frame by frame."""
    for key, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode())
        out.write(str(value).encode() + b"\r\n")
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="archive"; filename="frames.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n".encode()
    )
    seen: dict[str, Path] = {}
    # strict_timestamps=False: a file dated before 1980 is stored as 1980, not refused.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, strict_timestamps=False) as archive:
        for path in frames:
            path = Path(path)
            if path.name in seen:
                raise ClientError(
                    f"two frames are named {path.name} ({seen[path.name]} and {path}); "
                    "an upload needs distinct file names",
                    code="duplicate_frame_name",
                    path=path,
                )
            seen[path.name] = path
            archive.write(path, arcname=path.name)
    out.write(f"\r\n--{boundary}--\r\n".encode())


@dataclass
class UploadBody:
    """A written body: its file (at its start), length and content type."""

    file: IO[bytes]
    length: int
    content_type: str

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk


@contextlib.contextmanager
def upload_body(frames: Iterable[Path], fields: Mapping[str, str]) -> Iterator[UploadBody]:
    """The body for ``frames`` and ``fields`` in a temporary file, removed afterwards."""
    boundary = f"img2vid-{uuid.uuid4().hex}"
    with tempfile.TemporaryFile(prefix="img2vid-upload-") as body:
        write_upload(body, frames, fields, boundary)
        yield UploadBody(body, body.tell(), f"multipart/form-data; boundary={boundary}")


def frames_of(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], pattern: str | None = None
) -> list[Path]:
    """The frames to upload: those of a folder or a glob, found as ``img2vid encode``
    finds them (images only, natural order; ``pattern`` filters a folder's names), or a
    given sequence of files, in its order."""
    if isinstance(source, (str, os.PathLike)):
        return discover(source, pattern).frames
    if pattern is not None:
        raise ClientError("pattern filters a folder's frames; give a folder, not a list of files", code="bad_source")
    frames = [Path(p) for p in source]
    if not frames:
        raise ClientError("no frames given", code="no_frames")
    return frames
