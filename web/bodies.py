"""Reading request bodies safely: JSON strict and bounded, forms that say which limit
they crossed, uploads capped and fingerprinted as they stream in, and a body that cannot
be read (a malformed chunked encoding) a 400 rather than a 500.

Werkzeug refuses every form limit with the same bare 413; the client is told here which
limit it hit and which setting raises it.
"""

from __future__ import annotations

import hashlib
import json
from typing import IO, Any

from flask import Request, current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.sansio.multipart import File

from img2vid.engine.images import too_many_bytes
from img2vid.errors import InvalidOptionError, TooLargeError
from web.uploads import client_name

# Text fields of the upload form are a few characters each (fps, codec, size, ...). Not
# lower: Werkzeug applies it to its parse buffer too, which holds up to 64 KiB of what
# has arrived besides what is left over.
MAX_FORM_FIELD_BYTES = 500_000
# Parts an upload may have beyond its frames: the spec's fields, a CSRF token, and files
# that are not frames (a stray .txt), which are skipped rather than refused.
FORM_PARTS_SLACK = 100


def json_body() -> Any:
    """The request's JSON, strictly: no NaN or Infinity, and nesting deep enough to
    exhaust the parser is refused like any other invalid JSON (InvalidOptionError)."""
    data = request.get_data(cache=True)
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # RecursionError: [[[[... 100,000 deep
        raise InvalidOptionError("the body is not valid JSON") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def upload_digests() -> list[tuple[str, str, str]]:
    """(field, file name, SHA-256) of every file part, in the order sent, hashed as they
    streamed in; empty unless the request has an Idempotency-Key (only a replay needs
    them, and a hash costs about a second per GB)."""
    return [(field, name, h.hexdigest()) for field, name, h in request.environ.get("img2vid.digests", [])]


class UploadRequest(Request):
    """Flask's request with img2vid's form limits (web/__init__.py sets it as the app's)."""

    def make_form_data_parser(self) -> FormDataParser:
        settings = current_app.extensions["img2vid"].settings
        return _FormParser(
            stream_factory=self._get_file_stream,
            max_form_memory_size=MAX_FORM_FIELD_BYTES,
            max_content_length=self.max_content_length,
            max_form_parts=max_form_parts(settings.max_frames),
            cls=self.parameter_storage_class,
        )


def max_form_parts(max_frames: int) -> int:
    # Werkzeug's own default is 1,000 parts, which stopped uploads at 998 frames.
    return max_frames + 2 * FORM_PARTS_SLACK


class _FormParser(FormDataParser):
    def _parse_multipart(self, stream, mimetype, content_length, options):
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        parser = _MultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
        )
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


class _MultiPartParser(MultiPartParser):
    """Counts the parts it has seen, so that a 413 can name its limit; caps each frame
    file as it streams; fingerprints files when the request has an Idempotency-Key."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.parts = 0
        self.files = 0
        settings = current_app.extensions["img2vid"].settings
        self.max_frames = settings.max_frames
        self.max_frame_bytes = settings.max_frame_bytes
        self.digests: list | None = [] if request.headers.get("Idempotency-Key") else None
        if self.digests is not None:
            request.environ["img2vid.digests"] = self.digests

    def get_part_charset(self, headers) -> str:
        self.parts += 1  # called once for each text field, when it is complete
        return super().get_part_charset(headers)

    def start_file_streaming(self, event: File, total_content_length: int | None) -> IO[bytes]:
        self.parts += 1
        self.files += 1
        if self.files > self.max_frames + FORM_PARTS_SLACK:
            raise TooLargeError(
                f"the upload has more than {self.max_frames + FORM_PARTS_SLACK:,} files; a job "
                f"takes at most {self.max_frames:,} frames (IMG2VID_MAX_FRAMES)",
                code="too_many_frames",
            )
        container = super().start_file_streaming(event, total_content_length)
        # A frame is capped as it arrives; the one archive may be as large as the request.
        cap = self.max_frame_bytes if event.name == "frames" else None
        digest = None
        if self.digests is not None:
            digest = hashlib.sha256()
            self.digests.append((event.name, event.filename or "", digest))
        return _Capped(container, event.filename or "frame", cap, digest)

    def parse(self, stream, boundary, content_length):
        reading = _Reading(stream)
        try:
            return super().parse(reading, boundary, content_length)
        except RequestEntityTooLarge:
            if reading.over:  # the body itself is over the request limit: the handler says so
                raise
            if self.parts >= (self.max_form_parts or 0):
                raise TooLargeError(
                    f"the form has more than {self.max_form_parts:,} parts (at most "
                    f"{self.max_frames:,} frames, IMG2VID_MAX_FRAMES, and a few fields)",
                    code="too_many_frames",
                ) from None
            raise TooLargeError(
                f"a form field is longer than {MAX_FORM_FIELD_BYTES:,} bytes; the fields "
                "are short values such as fps=24",
                code="request_too_large",
            ) from None


class _Reading:
    """The body stream, noting whether it was the body's own size limit that refused."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.over = False

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except RequestEntityTooLarge:
            self.over = True
            raise


class _Capped:
    """A file part's spool: refuses a frame over the byte limit while it streams in
    (nothing larger is ever buffered), and hashes it when asked."""

    def __init__(self, inner: IO[bytes], filename: str, cap: int | None, digest) -> None:
        self._inner, self._filename, self._cap, self._digest = inner, filename, cap, digest
        self._size = 0

    def write(self, data: bytes) -> int:
        self._size += len(data)
        if self._cap is not None and self._size > self._cap:
            raise too_many_bytes(client_name(self._filename), self._cap)
        if self._digest is not None:
            self._digest.update(data)
        return self._inner.write(data)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


class BodyErrors:
    """WSGI middleware: a body the server cannot read (a malformed chunked encoding, a
    client gone mid-body) becomes a 400 for the app to answer, not an exception that
    escapes as a 500. gunicorn raises its own ParseException subclasses (InvalidChunkSize,
    ChunkMissingTerminator) or an OSError (NoMoreData); any error of the server's body
    reader means the same to us."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        if "wsgi.input" in environ:
            environ["wsgi.input"] = _Readable(environ["wsgi.input"])
        return self.app(environ, start_response)


class _Readable:
    def __init__(self, stream) -> None:
        self._stream = stream

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except Exception:
            raise BadRequest(
                "the request body could not be read: a malformed chunked encoding, or the client stopped sending"
            ) from None

    def read(self, *args):
        return self._guard(self._stream.read, *args)

    def readline(self, *args):
        return self._guard(self._stream.readline, *args)

    def readlines(self, *args):
        return self._guard(self._stream.readlines, *args)

    def __iter__(self):
        return iter(self.readline, b"")

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
