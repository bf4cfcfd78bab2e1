"""The job spec and the job as the API shows it: pydantic models that the web side
serialises with and builds its OpenAPI document from."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .codecs import CODECS, DEFAULT_CODEC
from .errors import BadNameError, BadSourceError, InvalidOptionError
from .codecs import check_size, get_codec
from .options import DEFAULT_FIT, DEFAULT_FPS, DEFAULT_MAX_PIXELS, FITS, MAX_FPS, parse_fit, parse_fps, parse_size

CodecName = Literal["mp4v", "h264", "vp9", "vp8", "mjpg", "ffv1"]
FitName = Literal["contain", "cover", "stretch"]
State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
assert set(CodecName.__args__) == set(CODECS) and set(FitName.__args__) == set(FITS)

MAX_DIR_LENGTH = 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dir: str = Field(description="folder relative to the shared volume's input root", max_length=MAX_DIR_LENGTH)
    pattern: str | None = Field(None, description="glob on file names inside it; default all images", max_length=200)


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Source | None = Field(None, description="for JSON jobs; uploads carry their frames instead")
    fps: float = Field(DEFAULT_FPS, gt=0, le=MAX_FPS)
    codec: CodecName = DEFAULT_CODEC
    size: str | None = Field(None, description="WxH; default the first frame's", pattern=r"^\d{1,6}[xX]\d{1,6}$")
    fit: FitName = DEFAULT_FIT
    name: str | None = Field(None, description="output file stem; default the job id", pattern=_NAME.pattern)


def parse_spec(data: Any, *, need_source: bool, max_pixels: int = DEFAULT_MAX_PIXELS) -> JobSpec:
    """Validate a spec from JSON or form fields with the engine's rules and codes; a size
    the codec cannot take (or over ``max_pixels``) is refused here, not by the worker."""
    if not isinstance(data, Mapping):
        raise InvalidOptionError("the job spec must be a JSON object")
    known = {"source", "fps", "codec", "size", "fit", "name"}
    unknown = sorted(repr(k) for k in set(data) - known)
    if unknown:
        raise InvalidOptionError(f"unknown field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    source = data.get("source")
    if need_source:
        if not isinstance(source, Mapping) or not source.get("dir"):
            raise BadSourceError('source.dir is required: {"source": {"dir": "folder/under/inputs"}}')
        extra = sorted(repr(k) for k in set(source) - {"dir", "pattern"})
        if extra:
            raise BadSourceError(f"unknown source field(s): {', '.join(extra)}")
        folder = _text(source["dir"], "source.dir", BadSourceError)
        if len(folder) > MAX_DIR_LENGTH:
            raise BadSourceError(f"source.dir is longer than {MAX_DIR_LENGTH} characters")
        pattern = source.get("pattern")
        if pattern is not None:
            pattern = _text(pattern, "source.pattern", BadSourceError)
            if "/" in pattern or len(pattern) > 200:
                raise BadSourceError("source.pattern must be a file-name glob such as '*.png' (no '/', at most 200 characters)")
        src = Source(dir=folder, pattern=pattern or None)
    elif source is not None:
        raise BadSourceError("an upload carries its own frames; leave source out")
    else:
        src = None
    size = parse_size(_given(data, "size"))
    name = _given(data, "name")
    if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
        raise BadNameError("name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    fps = _given(data, "fps")
    codec = get_codec(DEFAULT_CODEC if _given(data, "codec") is None else data["codec"])
    if size:
        check_size(codec, size, max_pixels)
    return JobSpec(
        source=src,
        fps=parse_fps(DEFAULT_FPS if fps is None else fps),
        codec=codec.name,
        size=f"{size[0]}x{size[1]}" if size else None,
        fit=parse_fit(_given(data, "fit") or DEFAULT_FIT),
        name=name,
    )


def _given(data: Mapping, field: str) -> Any:
    """A field's value, None when it is absent, null or empty (a form's empty field)."""
    value = data.get(field)
    return None if value is None or value == "" else value


def _text(value: Any, field: str, error: type[InvalidOptionError]) -> str:
    """A string a path or a glob can be made of: no NUL, no lone surrogate (JSON can
    carry "\\ud800", which no file system name can hold)."""
    if not isinstance(value, str):
        raise error(f"{field} must be a string")
    if "\x00" in value:
        raise error(f"{field} must not contain NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{field} is not valid Unicode text (it holds a lone surrogate)") from None
    return value


class Progress(BaseModel):
    frames_done: int
    frames_total: int
    percent: float


class Result(BaseModel):
    video_url: str
    poster_url: str
    frames: int
    width: int
    height: int
    fps: float
    codec: str
    bytes: int
    duration_seconds: float


class ErrorBody(BaseModel):
    code: str
    message: str
    path: str | None = Field(None, description="the file concerned, relative to the job's frames")


class ErrorResponse(BaseModel):
    error: ErrorBody


class Job(BaseModel):
    id: str
    state: State
    progress: Progress
    queue_position: int | None = Field(None, description="jobs ahead of this one while queued (0: next)")
    eta_seconds: float | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    owner: str | None = Field(None, description="the name of the API token that created it; null when the service is open")
    spec: JobSpec
    result: Result | None = None
    error: ErrorBody | None = None


class JobList(BaseModel):
    jobs: list[Job]
    total: int = Field(description="jobs in all (with this state filter)")
    offset: int
    limit: int


class BatchRequest(BaseModel):
    jobs: list[JobSpec]


class BatchItem(BaseModel):
    index: int
    id: str | None = None
    job: Job | None = None
    error: ErrorBody | None = None


class BatchResponse(BaseModel):
    accepted: int
    rejected: int
    jobs: list[BatchItem]


class InputFolder(BaseModel):
    dir: str = Field(description="pass this as source.dir")
    frames: int
    folders: int = Field(description="sub-folders inside it")


class InputList(BaseModel):
    dir: str
    frames: int = Field(description="frames directly in this folder")
    folders: list[InputFolder]
