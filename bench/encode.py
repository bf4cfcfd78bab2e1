"""Encoding benchmark: the engine against the original script and ffmpeg.

Every contender runs as its own process on the same frames; the table shows wall time
(process start to exit, imports included), frames/s and peak resident memory (from
wait4). Run: make bench-encode [ARGS='--count 1000' | ARGS='--frames DIR'].
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.framegen import ensure_frames

HERE = Path(__file__).resolve().parent

VENV_BIN = Path(sys.executable).parent


@dataclass
class Row:
    name: str
    wall: float
    rss_mib: float
    out_mib: float
    ok: bool


def run(name: str, argv: list[str], output: Path) -> Row:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    ok = proc.returncode == 0 and output.exists()
    if not ok:
        print(f"  {name} failed ({proc.returncode}): {err[-300:]}", file=sys.stderr)
    size = output.stat().st_size / 2**20 if output.exists() else 0.0
    return Row(name, wall, usage.ru_maxrss / 1024, size, ok)


def _median(rows: list[Row]) -> Row:
    ordered = sorted(rows, key=lambda r: r.wall)
    mid = ordered[len(ordered) // 2]
    return Row(mid.name, mid.wall, max(r.rss_mib for r in rows), mid.out_mib, all(r.ok for r in rows))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=Path, help="a folder of JPEG frames to use instead of generated ones")
    p.add_argument("--count", type=int, default=300, help="frames to generate (default 300)")
    p.add_argument("--codecs", default="mp4v,h264,vp8,vp9", help="engine codecs to run (default mp4v,h264,vp8,vp9)")
    p.add_argument(
        "--no-reference", action="store_true", help="skip the original script (it holds every frame in memory)"
    )
    p.add_argument("--repeat", type=int, default=3, help="rounds; each row shows the median wall time (default 3)")
    a = p.parse_args()

    if a.frames:
        frames = a.frames
    else:
        frames = HERE / ".frames-1920x1080"
        print(f"making {a.count} 1920x1080 frames in {frames} (kept for next time) ...", file=sys.stderr)
        ensure_frames(frames, a.count)
        if len(list(frames.glob("*.jpg"))) != a.count:
            # A folder made for a larger count: use exactly the first N.
            sub = HERE / f".frames-1920x1080-{a.count}"
            if not sub.exists():
                sub.mkdir()
                for i in range(a.count):
                    os.link(frames / f"frame_{i:05d}.jpg", sub / f"frame_{i:05d}.jpg")
            frames = sub
    count = len([f for f in frames.iterdir() if f.suffix.lower() in (".jpg", ".jpeg")])

    contenders: list[tuple[str, list[str], str]] = []  # (name, argv with {out}, output file name)
    for codec in a.codecs.split(","):
        name = f"engine-{codec}" + (".webm" if codec in ("vp8", "vp9") else ".mp4")
        contenders.append(
            (
                f"engine {codec}",
                [str(VENV_BIN / "img2vid"), "encode", str(frames), "{out}", "--codec", codec, "--overwrite"],
                name,
            )
        )
    if not a.no_reference:
        contenders.append(
            (
                "reference loop (read all, mp4v)",
                [sys.executable, "-m", "bench.reference_loop", str(frames), "{out}"],
                "reference.mp4",
            )
        )
    if shutil.which("ffmpeg"):
        contenders.append(
            (
                "ffmpeg -c:v mpeg4",
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-y",
                    "-framerate",
                    "5",
                    "-pattern_type",
                    "glob",
                    "-i",
                    str(frames / "*.jpg"),
                    "-c:v",
                    "mpeg4",
                    "{out}",
                ],
                "ffmpeg.mp4",
            )
        )

    # Rounds interleave the contenders, so a machine that slows down for a while (this one
    # shares its host) slows them all alike; each row is the median round.
    runs: dict[str, list[Row]] = {name: [] for name, _, _ in contenders}
    with tempfile.TemporaryDirectory(prefix="img2vid-bench-") as tmp:
        for _ in range(a.repeat):
            for name, argv, file_name in contenders:
                target = Path(tmp) / file_name
                target.unlink(missing_ok=True)
                runs[name].append(run(name, [str(target) if x == "{out}" else x for x in argv], target))
    rows = [_median(rs) for rs in runs.values()]

    by_name = {r.name: r for r in rows}
    ff = by_name.get("ffmpeg -c:v mpeg4")
    print(
        f"\n{count} frames of 1920x1080 JPEG, {os.cpu_count()} cores, median of {a.repeat} rounds "
        "(peak RSS: the highest)\n"
    )
    print(
        f"| {'contender':34} | {'wall s':>7} | {'frames/s':>8} | {'peak RSS MiB':>12} | {'vs ffmpeg':>9} "
        f"| {'output MiB':>10} |"
    )
    print(f"|{'-' * 36}|{'-' * 9}|{'-' * 10}|{'-' * 14}|{'-' * 11}|{'-' * 12}|")
    for r in rows:
        rel = f"{r.wall / ff.wall:.2f}x" if ff and ff.ok and r.ok else "—"
        fps = f"{count / r.wall:.1f}" if r.ok else "failed"
        print(f"| {r.name:34} | {r.wall:7.2f} | {fps:>8} | {r.rss_mib:12.0f} | {rel:>9} | {r.out_mib:10.1f} |")

    engine = by_name.get("engine mp4v")
    ref = by_name.get("reference loop (read all, mp4v)")
    checks = []
    if engine and ff:
        checks.append(
            (f"engine mp4v wall <= 1.0x ffmpeg ({engine.wall / ff.wall:.2f}x)", engine.ok and engine.wall <= ff.wall)
        )
    if engine and ref:
        checks.append(
            (
                f"engine mp4v >= 1.8x faster than the reference loop ({ref.wall / engine.wall:.2f}x)",
                engine.ok and ref.wall >= 1.8 * engine.wall,
            )
        )
    # The memory target is the issue's, for the engine's mp4v and h264 rows; VP9 is shown
    # for what it is: libvpx-vp9 alone holds about 175 MiB for a 1080p real-time encode.
    for r in rows:
        if r.name in ("engine mp4v", "engine h264"):
            checks.append((f"{r.name} peak RSS <= 300 MiB ({r.rss_mib:.0f} MiB)", r.ok and r.rss_mib <= 300))
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in checks) and all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
