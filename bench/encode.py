"""Encoding benchmark: the engine against ffmpeg doing the same encode, on the same frames.

For each codec the engine runs as ``img2vid encode`` and two ffmpeg peers run with the
engine's own settings (the codec table's, as ffmpeg options): the newest release
(9.0, from PyPI's imageio-ffmpeg) and Debian's 5.1 where it is installed. Every
contender is its own process; rounds interleave them. The table shows wall time
(process start to exit, imports included), CPU time (user + system), frames/s, peak
resident memory (from wait4), the video's size and its PSNR against the source frames
(ffmpeg's psnr filter, the JPEGs converted to yuv420p as reference).

Run: make bench-encode [ARGS='--count 1000' | ARGS='--frames DIR' | ARGS='--codecs mp4v'].
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.framegen import SCENES, ensure_frames
from img2vid.engine.codecs import CODECS, PyAVWriting

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
FPS = 5.0


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mib: float
    ok: bool


@dataclass
class Contender:
    codec: str
    name: str
    argv: list[str]  # "{out}" stands for the output file
    output: str  # file name

    def command(self, target: Path) -> list[str]:
        return [str(target) if x == "{out}" else x for x in self.argv]


@dataclass
class Row:
    contender: Contender
    runs: list[Run]
    mib: float  # the video's size
    psnr: tuple[float, float] | None = None  # average, luma

    @property
    def psnr_text(self) -> str:
        return f"{self.psnr[0]:.2f} (y {self.psnr[1]:.2f})" if self.psnr else "—"

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runs)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    @property
    def rss_mib(self) -> float:
        return max(r.rss_mib for r in self.runs)


def ffmpeg_9() -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_version(exe: str) -> str:
    first = subprocess.run([exe, "-version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    m = re.search(r"version n?(\d+\.\d+)", first)
    return m.group(1) if m else "?"


def measure(argv: list[str], output: Path) -> Run:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    ok = code == 0 and output.exists()
    if not ok:
        print(f"  {argv[0]} failed ({code}): {err[-300:]}", file=sys.stderr)
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, ok)


def psnr(ffmpeg: str, video: Path, frames: Path) -> tuple[float, float] | None:
    """Average and luma PSNR (dB) of ``video`` against the JPEGs, both as yuv420p."""
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-i", str(video), "-framerate", str(FPS), "-pattern_type", "glob"]
        + ["-i", str(frames / "*.jpg"), "-lavfi", "[1:v]format=yuv420p[ref];[0:v]format=yuv420p[out];[out][ref]psnr"]
        + ["-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr
    m = re.search(r"PSNR y:([\d.]+) u:([\d.]+) v:([\d.]+) average:([\d.inf]+)", out)
    return (float(m.group(4)), float(m.group(1))) if m else None


def contenders(codecs: list[str], frames: Path, peers: dict[str, str]) -> list[Contender]:
    glob_input = ["-framerate", str(FPS), "-pattern_type", "glob", "-i", str(frames / "*.jpg")]
    size = _first_size(frames)
    found = []
    for codec in codecs:
        row = CODECS[codec]
        found.append(
            Contender(
                codec,
                f"engine {codec}",
                [str(VENV_BIN / "img2vid"), "encode", str(frames), "{out}", "--codec", codec, "--overwrite"],
                f"engine-{codec}{row.suffix}",
            )
        )
        if not isinstance(row.writing, PyAVWriting):
            continue
        for label, exe in peers.items():
            found.append(
                Contender(
                    codec,
                    f"ffmpeg {label} {codec}",
                    [exe, "-v", "error", "-y", *glob_input, *row.writing.ffmpeg_args(FPS, size), "{out}"],
                    f"ffmpeg-{label}-{codec}{row.suffix}",
                )
            )
    return found


def _first_size(frames: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(min(frames.glob("*.jpg"))) as img:
        return img.size


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=Path, help="a folder of JPEG frames to use instead of generated ones")
    p.add_argument("--count", type=int, default=300, help="frames to generate (default 300)")
    p.add_argument("--scene", choices=SCENES, default="textured", help="what generated frames show (bench/framegen.py)")
    p.add_argument("--codecs", default="mp4v,h264,vp9", help="engine codecs to run (default mp4v,h264,vp9)")
    p.add_argument("--repeat", type=int, default=3, help="rounds; each row shows the median (default 3)")
    p.add_argument(
        "--no-reference", action="store_true", help="skip the original script (it holds every frame in memory)"
    )
    p.add_argument("--no-psnr", action="store_true", help="skip the PSNR column (it decodes every video again)")
    a = p.parse_args()

    frames = a.frames or generated(a.count, a.scene)
    count = len(list(frames.glob("*.jpg")))
    peers: dict[str, str] = {}
    newest = ffmpeg_9()
    if newest:
        peers[ffmpeg_version(newest)] = newest
    else:
        print("imageio-ffmpeg is not installed (make install): no ffmpeg 9.0 peer", file=sys.stderr)
    if shutil.which("ffmpeg"):
        peers.setdefault(ffmpeg_version("ffmpeg"), "ffmpeg")
    rivals = contenders(a.codecs.split(","), frames, peers)
    if not a.no_reference:
        reference = [sys.executable, "-m", "bench.reference_loop", str(frames), "{out}"]
        rivals.append(Contender("mp4v", "reference loop (read all, mp4v)", reference, "reference.mp4"))

    runs: dict[str, list[Run]] = {c.name: [] for c in rivals}
    rows: dict[str, Row] = {}
    with tempfile.TemporaryDirectory(prefix="img2vid-bench-") as tmp:
        for _ in range(a.repeat):
            for c in rivals:
                target = Path(tmp) / c.output
                target.unlink(missing_ok=True)
                runs[c.name].append(measure(c.command(target), target))
        for c in rivals:
            target = Path(tmp) / c.output
            row = Row(c, runs[c.name], target.stat().st_size / 2**20 if target.exists() else 0.0)
            if row.ok and not a.no_psnr and peers:
                row.psnr = psnr(newest or "ffmpeg", target, frames)
            rows[c.name] = row

    w, h = _first_size(frames)
    print(f"\n{count} frames of {w}x{h} JPEG at {FPS:g} fps, {os.cpu_count()} cores, median of {a.repeat} rounds")
    print("(peak RSS: the highest of the rounds; PSNR: average dB, luma in brackets)\n")
    print("| contender | wall s | CPU s | frames/s | peak RSS MiB | MiB | PSNR dB | vs ffmpeg 9 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    newest_label = next(iter(peers), None) if newest else None
    checks = []
    for row in rows.values():
        c = row.contender
        peer = rows.get(f"ffmpeg {newest_label} {c.codec}")
        rel = f"{row.wall / peer.wall:.2f}x" if c.name.startswith("engine") and peer and peer.ok and row.ok else "—"
        fps = f"{count / row.wall:.1f}" if row.ok else "failed"
        print(
            f"| {c.name} | {row.wall:.2f} | {row.cpu:.2f} | {fps} | {row.rss_mib:.0f} | {row.mib:.1f} "
            f"| {row.psnr_text} | {rel} |"
        )
        if c.name.startswith("engine") and c.codec in ("mp4v", "h264", "vp9"):
            checks.append((f"{c.name} peak RSS <= 300 MiB ({row.rss_mib:.0f} MiB)", row.ok and row.rss_mib <= 300))
        if c.name.startswith("engine") and peer and peer.ok and row.ok:
            checks += _goals(row, peer)
    engine, ref = rows.get("engine mp4v"), rows.get("reference loop (read all, mp4v)")
    if engine and ref:
        ratio = ref.wall / engine.wall
        text = f"engine mp4v >= 1.8x faster than the reference loop ({ratio:.2f}x)"
        checks.append((text, engine.ok and ratio >= 1.8))
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(r.ok for r in rows.values()) else 1


# The engine's wall time as a share of ffmpeg 9.0's, at most (issue 14's goals).
WALL_GOALS = {"mp4v": 0.67, "h264": 1.0, "vp9": 1.0, "vp8": 1.0}


def _goals(row: Row, peer: Row) -> list[tuple[str, bool]]:
    """The engine row held to the goals against ffmpeg 9.0 doing the same encode."""
    name, checks = row.contender.name, []
    goal = WALL_GOALS.get(row.contender.codec)
    if goal is not None:
        ratio = row.wall / peer.wall
        checks.append((f"{name} wall <= {goal:g}x ffmpeg 9.0's ({ratio:.2f}x)", ratio <= goal))
    if row.psnr and peer.psnr:
        gap = row.psnr[0] - peer.psnr[0]
        checks.append((f"{name} PSNR within 0.3 dB of ffmpeg 9.0's or above ({gap:+.2f} dB)", gap >= -0.3))
    size = row.mib / peer.mib - 1 if peer.mib else 0.0
    checks.append((f"{name} size within 5 % of ffmpeg 9.0's ({size:+.1%})", abs(size) <= 0.05))
    return checks


def generated(count: int, scene: str) -> Path:
    """Exactly ``count`` generated frames of ``scene``, made once and kept in bench/."""
    name = ".frames-1920x1080" + ("" if scene == "textured" else f"-{scene}")
    frames = HERE / name
    print(f"making {count} 1920x1080 {scene} frames in {frames} (kept for next time) ...", file=sys.stderr)
    ensure_frames(frames, count, scene=scene)
    if len(list(frames.glob("*.jpg"))) == count:
        return frames
    # A folder made for a larger count: use exactly the first N.
    sub = HERE / f"{name}-{count}"
    if not sub.exists():
        sub.mkdir()
        for i in range(count):
            os.link(frames / f"frame_{i:05d}.jpg", sub / f"frame_{i:05d}.jpg")
    return sub


if __name__ == "__main__":
    sys.exit(main())
