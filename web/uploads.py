"""Saving uploaded frames (many files, or one zip) as a job's upload, in the storage.

Client file names only decide the order; files are saved as 000000.jpg, 000001.png …
in the job's upload, and the client's names are kept beside them for error messages.
Every limit is checked before the bytes it guards are stored, and every frame's header
(readable, under the pixel limit) before it is: frames stream one by one from the
request's spooled parts, or a zip member's spooled copy, into the storage.
"""

from __future__ import annotations

import stat
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import BinaryIO

from werkzeug.datastructures import FileStorage

from img2vid.engine.discovery import natural_key
from img2vid.engine.images import is_image_name, probe_stream, too_many_bytes
from img2vid.errors import BadUploadError, NoFramesError, TooLargeError
from img2vid.settings import WebSettings
from img2vid.storage import Storage

_CHUNK = 1 << 20
_SPOOL = 2 << 20


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def _check_count(n: int, settings: WebSettings) -> None:
    if n == 0:
        raise NoFramesError("the upload holds no frames: expected jpg, jpeg, png, bmp, tif, tiff or webp files")
    if n > settings.max_frames:
        raise TooLargeError(
            f"{n:,} frames is over the limit of {settings.max_frames:,} per job (IMG2VID_MAX_FRAMES)",
            code="too_many_frames",
        )


def client_name(filename: str) -> str:
    """The file name a client sent, without any folders (Windows' too)."""
    return PurePosixPath(filename.replace("\\", "/")).name


def save_files(files: list[FileStorage], storage: Storage, job_id: str, settings: WebSettings) -> int:
    # Each frame was capped at IMG2VID_MAX_FRAME_BYTES as it streamed in (web/bodies.py).
    frames = [f for f in files if f.filename and is_image_name(client_name(f.filename))]
    _check_count(len(frames), settings)
    frames.sort(key=lambda f: natural_key(f.filename or ""))
    names = {f"{i:06d}{_suffix(f.filename or '')}": client_name(f.filename or "") for i, f in enumerate(frames)}

    def checked() -> Iterator[tuple[str, BinaryIO]]:
        for (saved, original), f in zip(names.items(), frames, strict=True):
            _probe(original, f.stream, settings)
            yield saved, f.stream

    storage.save_upload(job_id, checked(), names)
    return len(names)


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out with '..'"
    if "\x00" in name:
        return "has a NUL in its name"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a link"
    return None


def save_archive(upload: FileStorage, storage: Storage, job_id: str, settings: WebSettings) -> int:
    try:
        archive = zipfile.ZipFile(upload.stream)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise BadUploadError(f"{upload.filename or 'archive'} is not a zip file", code="bad_archive") from None
    with archive:
        infos = archive.infolist()
        # Checked from the central directory, before a single byte is extracted.
        if len(infos) > settings.max_zip_entries:
            raise TooLargeError(
                f"the archive has {len(infos):,} entries, over the limit of "
                f"{settings.max_zip_entries:,} (IMG2VID_MAX_ZIP_ENTRIES)",
                code="archive_too_large",
            )
        declared = sum(i.file_size for i in infos)
        if declared > settings.max_zip_bytes:
            raise TooLargeError(
                f"the archive unpacks to {declared:,} bytes, over the limit of "
                f"{settings.max_zip_bytes:,} (IMG2VID_MAX_ZIP_BYTES)",
                code="archive_too_large",
            )
        for info in infos:
            problem = _member_problem(info)
            if problem:
                raise BadUploadError(f"archive member {info.filename!r} {problem}", code="bad_archive_member")
        frames = [
            i
            for i in infos
            if not i.is_dir()
            and "__MACOSX" not in PurePosixPath(i.filename).parts
            and is_image_name(client_name(i.filename))
        ]
        _check_count(len(frames), settings)
        for info in frames:  # only frames are extracted; other members are never opened
            _check_member_size(info, settings)
        frames.sort(key=lambda i: natural_key(i.filename))
        names = {f"{n:06d}{_suffix(info.filename)}": info.filename for n, info in enumerate(frames)}

        def checked() -> Iterator[tuple[str, BinaryIO]]:
            for saved, info in zip(names, frames, strict=True):
                copy = _extract(archive, info)
                _probe(info.filename, copy, settings)
                yield saved, copy

        storage.save_upload(job_id, checked(), names)
    return len(names)


def _check_member_size(info: zipfile.ZipInfo, settings: WebSettings) -> None:
    """A frame member's size and expansion, from the central directory: a JPEG padded
    with 2 GiB of zeros is 2 MB in the zip and is refused here, unopened."""
    if info.file_size > settings.max_frame_bytes:
        raise too_many_bytes(info.filename, settings.max_frame_bytes, info.file_size)
    ratio = info.file_size / max(1, info.compress_size)
    if ratio > settings.max_zip_ratio:
        raise TooLargeError(
            f"archive member {info.filename!r} expands {ratio:,.0f} times, over the limit of "
            f"{settings.max_zip_ratio:,g} (IMG2VID_MAX_ZIP_RATIO)",
            code="archive_too_large",
        )


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> BinaryIO:
    """One member's bytes in a spooled file (in memory up to a few MB, then on disk),
    never more than its declared size (a member that lies about its size is refused
    rather than allowed to fill the disk)."""
    written = 0
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 (the storage closes it)
    try:
        with archive.open(info) as src:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise BadUploadError(
                        f"archive member {info.filename!r} is larger than it declares", code="bad_archive_member"
                    )
                out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        out.close()
        raise BadUploadError(
            f"archive member {info.filename!r} cannot be read: {exc}", code="bad_archive_member"
        ) from None
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out  # type: ignore[return-value]


def _probe(original: str, stream: BinaryIO, settings: WebSettings) -> None:
    """The frame's header, read before it is stored: readable, under the pixel limit;
    a refusal names it as the client did."""
    probe_stream(original, stream, settings.max_pixels)
