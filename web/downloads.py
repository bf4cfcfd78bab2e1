"""Serving a finished job's video or poster from the storage: a file on this machine by
sendfile, an object in the store streamed through (Range, If-None-Match and If-Range as
for a file), or a redirect to a short-lived presigned URL when IMG2VID_S3_PRESIGN_SECONDS
allows it."""

from __future__ import annotations

import io
import mimetypes

from flask import redirect, request, send_file
from werkzeug.http import parse_range_header
from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from img2vid.storage import StoredFile

MAX_AGE = 3600
_BUFFER = 1 << 16


def send_stored(stored: StoredFile, *, mimetype: str | None = None, as_attachment: bool = False):
    _ignore_unusable_range()
    if stored.path is not None:
        # conditional=True answers Range requests with 206 and If-None-Match with 304.
        return send_file(
            stored.path,
            mimetype=mimetype,
            conditional=True,
            as_attachment=as_attachment,
            download_name=stored.name,
            max_age=MAX_AGE,
        )
    url = stored.presigned_url()
    if url is not None:
        resp = redirect(url, code=302)
        resp.headers["Cache-Control"] = "no-store"  # the URL expires; the route does not
        return resp
    resp = Response(
        wrap_file(request.environ, _ObjectReader(stored), buffer_size=_BUFFER),
        mimetype=mimetype or mimetypes.guess_type(stored.name)[0] or "application/octet-stream",
        direct_passthrough=True,
    )
    resp.content_length = stored.size
    if stored.etag:
        resp.set_etag(stored.etag)
    if stored.modified:
        resp.last_modified = stored.modified
    resp.cache_control.public = True
    resp.cache_control.max_age = MAX_AGE
    if as_attachment:
        resp.headers.set("Content-Disposition", "attachment", filename=stored.name)
    return resp.make_conditional(request.environ, accept_ranges=True, complete_length=stored.size)


def _ignore_unusable_range() -> None:
    """Drop a Range header that is not one well-formed byte range: RFC 9110 lets a server
    ignore what it cannot use and send the whole file (200), which every client can read;
    Werkzeug would answer 416 instead. A well-formed range past the end stays a 416."""
    header = request.environ.get("HTTP_RANGE")
    if header is not None:
        parsed = parse_range_header(header)
        if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
            del request.environ["HTTP_RANGE"]


class _ObjectReader(io.RawIOBase):
    """A stored object as a seekable file: Werkzeug's range wrapper seeks to the first
    byte asked for, and the GET starts there (no byte before it is fetched)."""

    def __init__(self, stored: StoredFile) -> None:
        self.stored, self.pos, self.body = stored, 0, None

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._drop()
        self.pos = offset if whence == io.SEEK_SET else self.pos + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.pos >= self.stored.size:
            return b""
        if self.body is None:
            self.body = self.stored.open(self.pos)
        data = self.body.read(size if size >= 0 else None)
        self.pos += len(data)
        return data

    def _drop(self) -> None:
        if self.body is not None:
            self.body.close()
            self.body = None

    def close(self) -> None:
        self._drop()
        super().close()
