"""Where job files live (base.py says what every storage does): the data volume, or an
S3-compatible object store when IMG2VID_STORAGE=s3 (boto3 is loaded only then)."""

from __future__ import annotations

from img2vid.settings import Settings
from img2vid.storage.base import InputFolder, JobFolder, OutputSlot, Storage, StoredFile, Usage
from img2vid.storage.local import LocalStorage

__all__ = ["InputFolder", "JobFolder", "LocalStorage", "OutputSlot", "Storage", "StoredFile", "Usage", "open_storage"]


def open_storage(settings: Settings, *, retry_seconds: float = 0) -> Storage:
    """The storage the settings name. ``retry_seconds``: how long a call waits out an
    unreachable store (a worker mid-job; web answers at once)."""
    if settings.storage == "s3":
        from img2vid.storage.s3 import S3Storage

        return S3Storage(settings, retry_seconds=retry_seconds)
    return LocalStorage(settings.data_dir)
