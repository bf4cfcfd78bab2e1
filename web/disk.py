"""How full the data volume is: one statvfs call, cheap enough for every request (no
walking of uploads/ or outputs/). An object store has no size: no usage then."""

from __future__ import annotations

from dataclasses import dataclass

from img2vid.storage import Storage
from web.humanize import human_bytes


@dataclass(frozen=True)
class DiskUsage:
    total_bytes: int
    used_bytes: int
    free_bytes: int  # what the service may still write (blocks reserved for root are not)
    low_percent: float

    @property
    def used_percent(self) -> float:
        # As df counts it: of the space a user can have, used + free, not the total.
        usable = self.used_bytes + self.free_bytes
        return round(100 * self.used_bytes / usable, 1) if usable else 100.0

    @property
    def low(self) -> bool:
        return self.used_percent >= self.low_percent

    def as_json(self) -> dict:
        return {
            "total_bytes": self.total_bytes,
            "used_bytes": self.used_bytes,
            "free_bytes": self.free_bytes,
            "used_percent": self.used_percent,
            "low": self.low,
        }

    def text(self) -> str:
        """'41.2 GB free of 252 GB (84 % used)'."""
        return (
            f"{human_bytes(self.free_bytes)} free of {human_bytes(self.total_bytes)} ({self.used_percent:.0f} % used)"
        )


def disk_usage(storage: Storage, low_percent: float) -> DiskUsage | None:
    """The usage of the file system holding the volume; None when it cannot be read, or
    the storage is a bucket."""
    u = storage.usage()
    return DiskUsage(u.total, u.used, u.free, low_percent) if u else None
