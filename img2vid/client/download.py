"""Saving a download: into a temporary file beside the target, created as ``open()``
creates files (mode 0o666 less the umask), then linked into place, so that a partial
file is never seen at the target and an existing file is never replaced."""

from __future__ import annotations

import contextlib
import email.message
import errno
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from img2vid.client.errors import ClientError, ServerUnreachableError

# Extensions for a download that names no file, by its Content-Type.
_SUFFIXES = {
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/x-msvideo": ".avi",
    "video/avi": ".avi",
    "video/x-matroska": ".mkv",
}
# Where os.link is not to be had (FAT, some network file systems).
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def target_for(out: str | os.PathLike[str] | None, headers_name: str | None, default_name: str) -> Path:
    """Where a download goes: ``out`` if it is a file path; else, in the folder ``out``
    (default: here), the name the server gave, else ``default_name``."""
    if out is not None and not Path(out).is_dir():
        return Path(out)
    return Path(out or ".") / (headers_name or default_name)


def default_name(job_id: str, content_type: str | None) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    return f"{job_id}{_SUFFIXES.get(kind, '.video')}"


def attachment_name(header: str | None) -> str | None:
    """The file name in a Content-Disposition header, reduced to a safe base name."""
    if not header:
        return None
    msg = email.message.Message()
    msg["Content-Disposition"] = header
    name = msg.get_filename()
    if not name:
        return None
    name = os.path.basename(name.replace("\\", "/"))
    return name if name not in ("", ".", "..") and not name.startswith(".") else None


def check_target(target: Path) -> None:
    """Refuse a download target that exists, or whose folder does not."""
    if not target.parent.is_dir():
        raise ClientError(
            f"cannot write {target}: the folder {target.parent} does not exist", code="output_unwritable", path=target
        )
    if target.exists() or target.is_symlink():
        raise ClientError(f"{target} already exists; remove it or pass another -o", code="output_exists", path=target)


def save(chunks: Iterable[bytes], target: Path, expected: int | None) -> Path:
    """Write ``chunks`` to ``target``, which must not exist: all of them, or nothing.
    ``expected`` is the length the server announced; a shorter body is an error."""
    check_target(target)
    try:
        fd, tmp = _create_beside(target)
        try:
            got = 0
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    got += len(chunk)
            if expected is not None and got != expected:
                raise ServerUnreachableError(
                    f"the download of {target.name} stopped at {got:,} of {expected:,} bytes; try again",
                    code="download_incomplete",
                )
            _publish(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except OSError as exc:
        if isinstance(exc, FileExistsError):
            check_target(target)  # it appeared meanwhile: say so as for one there before
        where = exc.filename or target
        raise ClientError(f"cannot write {where}: {exc.strerror}", code="output_unwritable", path=target) from None
    return target


def _create_beside(target: Path) -> tuple[int, str]:
    """A new file beside ``target``, mode 0o666 less the umask as open() makes it (a
    NamedTemporaryFile would be 0600 whatever the umask says)."""
    for _ in range(100):
        tmp = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(target.parent))


def _publish(tmp: str, target: Path) -> None:
    """Put ``tmp`` at ``target`` unless something is there: a hard link fails rather than
    replaces; without links, a placeholder made exclusively is replaced instead."""
    try:
        os.link(tmp, target)
        return
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    os.replace(tmp, target)
