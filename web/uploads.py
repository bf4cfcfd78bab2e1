"""Saving uploaded frames (many files, or one zip) into uploads/<job>.

Client file names only decide the order; files are saved as 000000.jpg, 000001.png …
in the job's upload folder, and the client's names are kept beside them for error
messages. Every limit is checked before the bytes it guards are written.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from werkzeug.datastructures import FileStorage

from img2vid.engine.discovery import natural_key
from img2vid.engine.images import is_image_name, probe_size, too_many_bytes
from img2vid.errors import BadUploadError, FrameTooLargeError, NoFramesError, TooLargeError, UnreadableFrameError
from img2vid.settings import WebSettings
from img2vid.volume import Volume

_CHUNK = 1 << 20


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


def save_files(files: list[FileStorage], volume: Volume, job_id: str, settings: WebSettings) -> int:
    # Each frame was capped at IMG2VID_MAX_FRAME_BYTES as it streamed in (web/bodies.py).
    frames = [f for f in files if f.filename and is_image_name(client_name(f.filename))]
    _check_count(len(frames), settings)
    frames.sort(key=lambda f: natural_key(f.filename or ""))
    names = {}
    dest = volume.upload_dir(job_id)
    dest.mkdir(parents=True)
    for i, f in enumerate(frames):
        saved = f"{i:06d}{_suffix(f.filename or '')}"
        f.save(dest / saved, buffer_size=_CHUNK)
        names[saved] = client_name(f.filename or "")
    return _finish(volume, job_id, names, settings)


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


def save_archive(upload: FileStorage, volume: Volume, job_id: str, settings: WebSettings) -> int:
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
        dest = volume.upload_dir(job_id)
        dest.mkdir(parents=True)
        names = {}
        for n, info in enumerate(frames):
            saved = f"{n:06d}{_suffix(info.filename)}"
            _extract(archive, info, dest / saved)
            names[saved] = info.filename
    return _finish(volume, job_id, names, settings)


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


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """Copy one member, never writing more than its declared size (a member that lies
    about its size is refused rather than allowed to fill the disk)."""
    written = 0
    try:
        with archive.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise BadUploadError(
                        f"archive member {info.filename!r} is larger than it declares", code="bad_archive_member"
                    )
                out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise BadUploadError(
            f"archive member {info.filename!r} cannot be read: {exc}", code="bad_archive_member"
        ) from None


def _finish(volume: Volume, job_id: str, names: dict[str, str], settings: WebSettings) -> int:
    """Check every frame's header (readable, under the pixel limit), then record names."""
    dest = volume.upload_dir(job_id)
    for saved, original in names.items():
        try:
            probe_size(dest / saved, settings.max_pixels, settings.max_frame_bytes)
        except (UnreadableFrameError, FrameTooLargeError) as exc:
            exc.message = exc.message.replace(saved, original)
            exc.path = original
            raise
    volume.save_client_names(job_id, names)
    return len(names)
