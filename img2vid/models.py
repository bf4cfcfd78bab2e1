"""The job spec and the job as the API shows it: pydantic models that the web side
serialises with and builds its OpenAPI document from."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .codecs import CODECS, DEFAULT_CODEC
from .errors import BadNameError, BadSourceError, InvalidOptionError
from .codecs import get_codec
from .options import DEFAULT_FIT, DEFAULT_FPS, FITS, MAX_FPS, parse_fit, parse_fps, parse_size

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


def parse_spec(data: Any, *, need_source: bool) -> JobSpec:
    """Validate a spec from JSON or form fields with the engine's rules and codes."""
    if not isinstance(data, Mapping):
        raise InvalidOptionError("the job spec must be a JSON object")
    known = {"source", "fps", "codec", "size", "fit", "name"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidOptionError(f"unknown field(s): {', '.join(map(str, unknown))}; known: {', '.join(sorted(known))}")
    source = data.get("source")
    if need_source:
        if not isinstance(source, Mapping) or not isinstance(source.get("dir"), str) or not source.get("dir"):
            raise BadSourceError('source.dir is required: {"source": {"dir": "folder/under/inputs"}}')
        if len(source["dir"]) > MAX_DIR_LENGTH:
            raise BadSourceError(f"source.dir is longer than {MAX_DIR_LENGTH} characters")
        extra = sorted(set(source) - {"dir", "pattern"})
        if extra:
            raise BadSourceError(f"unknown source field(s): {', '.join(map(str, extra))}")
        pattern = source.get("pattern")
        if pattern is not None and (not isinstance(pattern, str) or "/" in pattern or "\x00" in pattern or len(pattern) > 200):
            raise BadSourceError("source.pattern must be a file-name glob such as '*.png' (no '/')")
        src = Source(dir=source["dir"], pattern=pattern or None)
    elif source is not None:
        raise BadSourceError("an upload carries its own frames; leave source out")
    else:
        src = None
    size = parse_size(data.get("size"))
    name = data.get("name")
    if name in ("", None):
        name = None
    elif not isinstance(name, str) or not _NAME.match(name):
        raise BadNameError("name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    fps = data.get("fps", DEFAULT_FPS)
    return JobSpec(
        source=src,
        fps=parse_fps(DEFAULT_FPS if fps in ("", None) else fps),
        codec=get_codec(data.get("codec") or DEFAULT_CODEC).name,
        size=f"{size[0]}x{size[1]}" if size else None,
        fit=parse_fit(data.get("fit") or DEFAULT_FIT),
        name=name,
    )


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
