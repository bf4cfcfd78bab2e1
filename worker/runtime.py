"""The worker process's settings, job store and volume, made once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from img2vid.jobstore import JobStore
from img2vid.settings import Settings
from img2vid.volume import Volume


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: JobStore
    volume: Volume


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    settings = Settings.from_env()
    volume = Volume(settings.data_dir)
    volume.ensure()
    return Runtime(settings, JobStore.from_url(settings.redis_url, settings.key_prefix), volume)
