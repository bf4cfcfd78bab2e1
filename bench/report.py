"""The table every service benchmark prints: a row per measurement, PASS/FAIL per target."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    measurement: str
    result: str
    target: str = "—"
    ok: bool | None = None  # None: informational, no target

    @property
    def verdict(self) -> str:
        return "—" if self.ok is None else ("PASS" if self.ok else "FAIL")


def print_table(rows: list[Row], header: str) -> None:
    print(f"\n{header}\n")
    print("| measurement | result | target | pass |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r.measurement} | {r.result} | {r.target} | {r.verdict} |")
    print()
    for r in rows:
        if r.ok is not None:
            print(f"{r.verdict}: {r.measurement}: {r.result} (target {r.target})")


def show_logs(log_dir: Path, lines: int = 20) -> None:
    """After a failure, the end of each process's log says what went wrong."""
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- {log.name} (last {len(tail)} lines)", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
