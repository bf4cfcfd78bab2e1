"""The API's answers besides a job (img2vid/job.py's Job): lists, batches, input folders
and errors. Each answer is made with its model, so the OpenAPI document (openapi.py)
describes exactly what is sent."""

from __future__ import annotations

from pydantic import BaseModel, Field

from img2vid.job import ErrorBody, Job, JobSpec


class ErrorResponse(BaseModel):
    error: ErrorBody


class JobList(BaseModel):
    jobs: list[Job]
    total: int = Field(description="jobs in all (with this state filter)")
    offset: int
    limit: int


class BatchRequest(BaseModel):
    jobs: list[JobSpec]


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
