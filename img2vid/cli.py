"""``img2vid``: the command line.

Each subcommand imports its side's code only when it runs, so ``img2vid --help`` works
with either extra installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .codecs import CODECS, codec_for_suffix
from .errors import Img2VidError, OutputExistsError
from .options import DEFAULT_FIT, DEFAULT_FPS, FITS, EncodeOptions
from .progressbar import ProgressBar
from .settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="img2vid", description="Turn folders of still frames into videos.")
    parser.add_argument("--version", action="version", version=f"img2vid {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enc = sub.add_parser(
        "encode",
        help="encode a folder (or glob) of frames into a video, here and now",
        description="Encode every image of SOURCE, in natural order, into OUTPUT.",
    )
    enc.add_argument("source", metavar="SOURCE", help="a folder of frames, or a quoted glob such as 'shots/*.png'")
    enc.add_argument("output", metavar="OUTPUT", help="the video file to write (its extension picks the container)")
    enc.add_argument("--fps", default=DEFAULT_FPS, help=f"frames per second, above 0 and at most 240 (default {DEFAULT_FPS:g})")
    enc.add_argument(
        "--codec",
        help="one of: " + ", ".join(f"{c.name} ({c.label})" for c in CODECS.values())
        + "; default: from OUTPUT's extension (.webm vp8, .avi mjpg, .mkv ffv1), else mp4v",
    )
    enc.add_argument("--size", help="output size WxH (default: the first frame's, made even where the codec needs)")
    enc.add_argument("--fit", default=DEFAULT_FIT, help=f"placing frames of another size: {', '.join(FITS)} (default {DEFAULT_FIT})")
    enc.add_argument("--pattern", help="only files in SOURCE whose names match this glob, e.g. 'cam1_*.jpg'")
    enc.add_argument("--skip-bad-frames", action="store_true", help="skip unreadable frames (and count them) instead of failing")
    enc.add_argument("--overwrite", action="store_true", help="replace OUTPUT (and its poster) if they exist")
    enc.set_defaults(run=_encode)
    return parser


def _encode(args: argparse.Namespace) -> int:
    # Imported here: OpenCV loads only for the commands that encode.
    from worker.engine import encode

    output = Path(args.output)
    codec = args.codec or codec_for_suffix(output.suffix) or "mp4v"
    if not output.suffix:
        output = output.with_suffix(CODECS[codec].suffix) if codec in CODECS else output
    settings = Settings.from_env()
    options = EncodeOptions.build(
        fps=args.fps, codec=codec, size=args.size, fit=args.fit,
        skip_bad_frames=args.skip_bad_frames, max_pixels=settings.max_pixels,
    )
    bar = ProgressBar()
    try:
        result = encode(
            args.source, output, options, pattern=args.pattern, overwrite=args.overwrite,
            progress=bar, threads=settings.decode_threads,
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except Img2VidError as exc:
        hint = " (pass --overwrite to replace it)" if isinstance(exc, OutputExistsError) else ""
        print(f"img2vid: error: {exc.message}{hint} [{exc.code}]", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("img2vid: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
