"""Where job files live: the data volume (the default) or an S3-compatible object store.

Every process reads these (web, workers, the CLI's ``up``): in the S3 mode, web and
workers share nothing but Redis and the bucket, so workers may run on any host.
Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, a profile, an instance role); the two keys may also be read
from files (``AWS_ACCESS_KEY_ID_FILE``, ``AWS_SECRET_ACCESS_KEY_FILE``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from img2vid.errors import invalid
from img2vid.settings.variables import Secret


class StorageSettings(BaseSettings):
    """The storage part of every process's settings (``Settings`` adds the rest)."""

    storage: Literal["local", "s3"] = "local"
    # Empty: AWS itself, found from the region.
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    # Keys start with this ("" or "team/img2vid/"): several deployments share a bucket.
    s3_prefix: str = ""
    s3_region: str = ""
    # Downloads: 0 streams them through web (with Range); N > 0 redirects to a presigned
    # URL that is good for N seconds, at the endpoint browsers can reach.
    s3_presign_seconds: int = Field(0, ge=0, le=7 * 86_400)
    s3_public_endpoint_url: str = ""
    # How long a worker keeps retrying an unreachable store mid-job before it fails
    # the job (the lease still holds meanwhile, and a cancel still stops it).
    s3_retry_seconds: float = Field(300.0, ge=0)
    # GETs in flight ahead of the decoder, and PUTs in flight while an upload is saved.
    s3_concurrency: int = Field(8, ge=1, le=64)
    aws_access_key_id: Secret = Field(
        "", validation_alias=AliasChoices("AWS_ACCESS_KEY_ID"), json_schema_extra={"secret": True}, repr=False
    )
    aws_secret_access_key: Secret = Field(
        "", validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY"), json_schema_extra={"secret": True}, repr=False
    )

    @field_validator("storage", mode="before")
    @classmethod
    def _storage(cls, value):
        if isinstance(value, str) and value.strip().lower() in ("local", "s3"):
            return value.strip().lower()
        raise invalid("bad_setting", f"IMG2VID_STORAGE must be local or s3, got {value!r}")

    @field_validator("s3_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in value.split("/") or "//" in value:
            raise invalid("bad_setting", f"IMG2VID_S3_PREFIX must be a plain key prefix (team/img2vid), got {value!r}")
        return value + "/" if value else ""

    @field_validator("s3_endpoint_url", "s3_public_endpoint_url")
    @classmethod
    def _url(cls, value: str, info) -> str:
        if value and not value.startswith(("http://", "https://")):
            name = f"IMG2VID_{info.field_name.upper()}"
            raise invalid("bad_setting", f"{name} must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _bucket_for_s3(self):
        if self.storage == "s3" and not self.s3_bucket:
            raise invalid("bad_setting", "IMG2VID_STORAGE=s3 needs IMG2VID_S3_BUCKET (the bucket job files go in)")
        return self
