"""The API's answers besides a job (img2vid/job.py's Job): lists, batches, input folders
and errors. Each answer is made with its model, so the OpenAPI document (openapi.py)
describes exactly what is sent."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from img2vid.job import ErrorBody, Job, JobSpec, WebhookUrl


class ErrorResponse(BaseModel):
    error: ErrorBody


class JobList(BaseModel):
    jobs: list[Job]
    total: int = Field(description="jobs in all (with this state filter)")
    offset: int
    limit: int


class BatchRequest(BaseModel):
    jobs: list[JobSpec]
    webhook_url: WebhookUrl | None = Field(None, description="the webhook_url of every job in it that names none")


class Accepted(BaseModel):
    index: int
    id: str
    job: Job


class Rejected(BaseModel):
    index: int
    error: ErrorBody
    status: int = Field(description="the HTTP status the spec alone would have had")


class BatchResponse(BaseModel):
    accepted: int
    rejected: int
    jobs: list[Accepted | Rejected]


class InputFolder(BaseModel):
    dir: str = Field(description="pass this as source.dir")
    frames: int
    folders: int = Field(description="sub-folders inside it")


class InputList(BaseModel):
    dir: str
    frames: int = Field(description="frames directly in this folder")
    folders: list[InputFolder]


# The health blueprint's answers (web/health.py), for the document: strict, so that
# tests/test_openapi.py notices a field the routes send and these do not name.
class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]


class DiskState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total_bytes: int
    used_bytes: int
    free_bytes: int
    used_percent: float
    low: bool = Field(description="used_percent is at or over IMG2VID_DISK_LOW_PERCENT")


class StorageState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "s3"]
    ok: bool
    code: str | None = Field(None, description="why not, when not ok (storage_unavailable, storage_denied)")
    message: str | None = None


class Readiness(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ready", "no workers", "unavailable"]
    redis: bool
    workers: int = Field(description="workers that sent a heartbeat lately")
    message: str | None = Field(None, description="why Redis cannot be reached")
    disk: DiskState | None = Field(description="the data volume's usage; null for a bucket")
    storage: StorageState
