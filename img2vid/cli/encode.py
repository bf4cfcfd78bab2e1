"""``img2vid encode``: encode a folder (or glob) of frames here and now."""

from __future__ import annotations

import argparse
from pathlib import Path

from img2vid.cli.progressbar import ProgressBar
from img2vid.engine import EncodeOptions, encode
from img2vid.engine.codecs import CODECS, codec_for_suffix
from img2vid.settings import Settings


def run(args: argparse.Namespace) -> int:

    output = Path(args.output)
    codec = args.codec or codec_for_suffix(output.suffix) or "mp4v"
    if not output.suffix:
        output = output.with_suffix(CODECS[codec].suffix) if codec in CODECS else output
    settings = Settings.from_env()
    options = EncodeOptions.parse(
        fps=args.fps,
        codec=codec,
        size=args.size,
        fit=args.fit,
        skip_bad_frames=args.skip_bad_frames,
        max_pixels=settings.max_pixels,
        max_frame_bytes=settings.max_frame_bytes,
    )
    bar = ProgressBar()
    try:
        result = encode(
            args.source,
            output,
            options,
            pattern=args.pattern,
            overwrite=args.overwrite,
            progress=bar,
            threads=settings.decode_threads,
        )
    finally:
        bar.close()
    extra = ""
    if result.bad_frames:
        extra += f", {len(result.bad_frames)} unreadable frames skipped"
    if result.other_files:
        extra += f", {result.other_files} other files ignored"
    print(
        f"{result.frames} frames, {result.width}x{result.height}, {result.fps:g} fps, {result.codec}, "
        f"{result.seconds:.2f} s, {result.frames_per_second:.1f} frames/s -> {result.video}{extra}"
    )
    return 0
