"""Sizes and durations in the words a person reads on a page."""

from __future__ import annotations


def human_bytes(n: int) -> str:
    """Decimal units, three significant digits: 950 MB, 41.2 GB, 252 GB, 1.05 TB."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 999.5 or unit == "TB":
            break
        value /= 1000
    if unit == "B":
        return f"{n} B"
    return f"{value:.3g} {unit}" if value < 999.5 else f"{value:.0f} {unit}"


def human_duration(seconds: float) -> str:
    """'7 days', '1 day', '36 hours', '90 minutes', '45 seconds': the largest unit that divides it."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'}"
    n = round(seconds)
    return f"{n} second{'' if n == 1 else 's'}"
