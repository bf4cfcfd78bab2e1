"""A job: the spec a client sends, and the job itself.

``JobSpec`` is validated once, at the edge (the API, the pages, ``img2vid submit``):
its validators refuse with the stable error codes, and what they pass is what the
store keeps and what the worker runs. ``Job`` is the one model of a job: its JSON is
what the API sends (``model_dump(mode="json")``), its serialization schema is what the
OpenAPI document says, and the job store reads and writes its record from it
(img2vid/store/records.py); fields only the store and the worker use are excluded from
the JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    computed_field,
    model_serializer,
    model_validator,
)

from img2vid.engine.codecs import DEFAULT_CODEC
from img2vid.engine.options import DEFAULT_FIT, DEFAULT_FPS, CodecName, EncodeOptions, Fit, Fps, Size, size_refusal
from img2vid.errors import Img2VidError, from_validation, invalid
from img2vid.webhook_url import MAX_URL_LENGTH, WebhookPolicy, check_url

State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATES: tuple[str, ...] = State.__args__  # type: ignore[attr-defined]
FINISHED = frozenset({"succeeded", "failed", "cancelled"})

MAX_DIR_LENGTH = 1024
MAX_PATTERN_LENGTH = 200
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _text(value: Any, field: str, code: str) -> str:
    """A string a path or a glob can be made of: no NUL, no lone surrogate (JSON can
    carry "\\ud800", which no file system name can hold)."""
    if not isinstance(value, str):
        raise invalid(code, f"{field} must be a string")
    if "\x00" in value:
        raise invalid(code, f"{field} must not contain NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(code, f"{field} is not valid Unicode text (it holds a lone surrogate)") from None
    return value


def _folder(value: Any) -> str:
    folder = _text(value, "source.dir", "bad_source")
    if not folder:
        raise invalid("bad_source", _SOURCE_REQUIRED)
    if len(folder) > MAX_DIR_LENGTH:
        raise invalid("bad_source", f"source.dir is longer than {MAX_DIR_LENGTH} characters")
    return folder


def _pattern(value: Any) -> str:
    pattern = _text(value, "source.pattern", "bad_source")
    if "/" in pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise invalid(
            "bad_source",
            "source.pattern must be a file-name glob such as '*.png' "
            f"(no '/', at most {MAX_PATTERN_LENGTH} characters)",
        )
    return pattern


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise invalid(
            "bad_name", "name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def _webhook_url(value: Any) -> str:
    try:
        return check_url(value)
    except Img2VidError as exc:
        raise invalid(exc.code, exc.message) from None


def _unknown(data: Mapping, known: list[str], what: str, code: str) -> None:
    unknown = sorted(repr(k) for k in set(data) - set(known))
    if unknown:
        raise invalid(code, f"unknown {what}(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")


_SOURCE_REQUIRED = 'source.dir is required: {"source": {"dir": "folder/under/inputs"}}'

Folder = Annotated[str, Field(min_length=1, max_length=MAX_DIR_LENGTH), BeforeValidator(_folder)]
Pattern = Annotated[str, Field(max_length=MAX_PATTERN_LENGTH), BeforeValidator(_pattern)]
Name = Annotated[str, Field(pattern=f"^{_NAME.pattern}$"), BeforeValidator(_name)]
WebhookUrl = Annotated[
    str, Field(max_length=MAX_URL_LENGTH, json_schema_extra={"format": "uri"}), BeforeValidator(_webhook_url)
]


class _Compact(BaseModel):
    """Shown and stored without the fields that were not given (None)."""

    @model_serializer(mode="wrap")
    def _without_none(self, handler):
        return {k: v for k, v in handler(self).items() if v is not None}


class Source(_Compact):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: Folder = Field(description="folder relative to the shared volume's input root")
    pattern: Pattern | None = Field(None, description="glob on file names inside it; default all images")

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise invalid("bad_source", _SOURCE_REQUIRED)
        _unknown(data, list(cls.model_fields), "source field", "bad_source")
        return {k: v for k, v in data.items() if not (k == "pattern" and v in (None, ""))}


class JobSpec(_Compact):
    """What a client asks for. A field left out, null or empty (a form's empty field)
    takes its default.

    Validated with ``JobSpec.parse`` at the edge, which also says whether the job is an
    upload (no ``source``) or a folder job (``source`` required) and the server's pixel
    limit. A spec read back from the store is validated without either: it passed them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Source | None = Field(None, description="for JSON jobs; uploads carry their frames instead")
    fps: Fps = DEFAULT_FPS
    codec: CodecName = DEFAULT_CODEC
    size: Size | None = Field(None, description="WxH; default the first frame's")
    fit: Fit = DEFAULT_FIT
    name: Name | None = Field(None, description="output file stem; default the job id")
    webhook_url: WebhookUrl | None = Field(
        None, description="http(s) URL the job's JSON is POSTed to, signed, when it finishes (README: webhooks)"
    )

    @model_validator(mode="before")
    @classmethod
    def _given(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            raise invalid("invalid_option", "the job spec must be a JSON object")
        context = info.context or {}
        known = list(cls.model_fields)
        if context.get("upload"):
            known.remove("source")  # an upload carries its own frames
        _unknown(data, known, "field", "invalid_option")
        given = {k: v for k, v in data.items() if v is not None and v != ""}
        if context.get("upload") is False and "source" not in given:
            raise invalid("bad_source", _SOURCE_REQUIRED)
        return given

    @model_validator(mode="after")
    def _codec_takes_the_size(self, info: ValidationInfo) -> JobSpec:
        if info.context is not None:  # at the edge; a stored spec passed this there
            size_refusal(self.codec, self.size, info.context.get("max_pixels"))
        return self

    @model_validator(mode="after")
    def _webhook_allowed(self, info: ValidationInfo) -> JobSpec:
        policy = (info.context or {}).get("webhooks")
        if self.webhook_url is not None and policy is not None:
            try:
                policy.check(self.webhook_url)
            except Img2VidError as exc:
                raise invalid(exc.code, exc.message) from None
        return self

    @classmethod
    def parse(
        cls, data: Any, *, upload: bool, max_pixels: int | None, webhooks: WebhookPolicy | None = None
    ) -> JobSpec:
        """Validate a client's spec: ``upload`` (its frames come with it) or a folder job;
        a size the codec cannot take, or over ``max_pixels`` (None: the server will
        decide), is refused here, not by the worker; so is a ``webhook_url`` the server's
        ``webhooks`` policy refuses (None: only its form is checked, as a client does).
        Raises the InvalidOptionError subclass of the first value that is wrong."""
        context = {"upload": upload, "max_pixels": max_pixels, "webhooks": webhooks}
        try:
            return cls.model_validate(data, context=context)
        except ValidationError as exc:
            raise from_validation(exc) from None

    def encode_options(self, *, max_pixels: int, max_frame_bytes: int) -> EncodeOptions:
        """The engine's options for this (valid) spec, not validated again."""
        return EncodeOptions.model_construct(
            fps=self.fps,
            codec=self.codec,
            size=self.size,
            fit=self.fit,
            max_pixels=max_pixels,
            max_frame_bytes=max_frame_bytes,
        )

    @property
    def title(self) -> str | None:
        """What a person calls the job: the name they gave it, else the server folder it
        reads; None for an unnamed upload."""
        return self.name or (self.source.dir if self.source else None)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A moment as the store keeps it (seconds since the epoch), shown as ISO 8601 UTC.
Timestamp = Annotated[float, PlainSerializer(_iso, return_type=str, when_used="json")]


class Progress(BaseModel):
    frames_done: int
    frames_total: int
    percent: float


class Segments(BaseModel):
    """A split job's segments: each encoded by any free worker, then joined."""

    total: int
    done: int


class ErrorBody(_Compact):
    code: str
    message: str
    path: str | None = Field(None, description="the file concerned, relative to the job's frames")


class Result(BaseModel):
    video: str = Field(exclude=True)  # its file name in the job's output folder
    frames: int
    width: int
    height: int
    fps: float
    codec: str
    bytes: int
    # None only in a record written before fps had a floor, which may hold Infinity.
    duration_seconds: float | None
    bad_frames: int = Field(0, exclude=True)
    _job_id: str = PrivateAttr("")

    @computed_field
    @property
    def video_url(self) -> str:
        return f"/api/v1/jobs/{self._job_id}/video"

    @computed_field
    @property
    def poster_url(self) -> str:
        return f"/api/v1/jobs/{self._job_id}/poster.jpg"


class Webhook(BaseModel):
    """A job's webhook: where its JSON goes when it finishes, and how the delivery went."""

    url: str
    attempts: int = 0
    last_status: int | Literal["timeout", "connection_error", "refused"] | None = Field(
        None,
        description="the receiver's HTTP status at the latest attempt; 'timeout' or 'connection_error' "
        "when none came; 'refused' when it was not sent (its host now leads to a refused address, or "
        "webhooks are off on the worker); null before the first",
    )
    last_error: str | None = Field(None, description="what went wrong at the latest attempt, in words")
    last_attempt_at: Timestamp | None = None
    delivered_at: Timestamp | None = Field(None, description="when a 2xx answer came: delivered, not sent again")
    gave_up_at: Timestamp | None = Field(
        None, description="when delivery stopped without success (a 4xx, a redirect, or 24 hours of failures)"
    )


class Job(BaseModel):
    id: str
    state: State
    spec: JobSpec
    created_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    attempts: int = 0
    owner: str | None = Field(
        None, description="the name of the API token that created it; null when the service is open"
    )
    queue_position: int | None = Field(None, description="jobs ahead of this one while queued (0: next)")
    eta_seconds: float | None = None
    segments: Segments | None = Field(None, description="a job split across workers: its segments, and those done")
    result: Result | None = None
    error: ErrorBody | None = None
    webhook: Webhook | None = Field(None, description="null when the job names no webhook_url")
    # The store's and the worker's own, never shown.
    frames_total: int = Field(0, exclude=True)
    frames_done: int = Field(0, exclude=True)
    upload: bool = Field(False, exclude=True)  # its frames are in the job's upload folder
    worker: str | None = Field(None, exclude=True)  # the worker of its latest run
    pid: int | None = Field(None, exclude=True)  # that run's process

    @model_validator(mode="after")
    def _link_result(self) -> Job:
        if self.result is not None:
            self.result._job_id = self.id
        return self

    @computed_field
    @property
    def progress(self) -> Progress:
        total = self.frames_total
        done = total if self.state == "succeeded" else self.frames_done
        return Progress(frames_done=done, frames_total=total, percent=round(100.0 * done / total, 1) if total else 0.0)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def api_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
