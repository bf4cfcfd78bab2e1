"""``img2vid``: the command line.

Each subcommand imports its side's code only when it runs, so ``img2vid --help`` works
with either extra installed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from img2vid import __version__
from img2vid.engine.codecs import CODECS
from img2vid.engine.options import DEFAULT_FIT, DEFAULT_FPS, FITS, MAX_FPS, MIN_FPS
from img2vid.errors import Img2VidError, OutputExistsError


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
    enc.add_argument(
        "--fps",
        default=DEFAULT_FPS,
        help=f"frames per second, from {MIN_FPS:g} to {MAX_FPS:g} (default {DEFAULT_FPS:g})",
    )
    enc.add_argument(
        "--codec",
        help="one of: "
        + ", ".join(f"{c.name} ({c.label})" for c in CODECS.values())
        + "; default: from OUTPUT's extension (.webm vp8, .avi mjpg, .mkv ffv1), else mp4v",
    )
    enc.add_argument("--size", help="output size WxH (default: the first frame's, made even where the codec needs)")
    enc.add_argument(
        "--fit", default=DEFAULT_FIT, help=f"placing frames of another size: {', '.join(FITS)} (default {DEFAULT_FIT})"
    )
    enc.add_argument("--pattern", help="only files in SOURCE whose names match this glob, e.g. 'cam1_*.jpg'")
    enc.add_argument(
        "--skip-bad-frames", action="store_true", help="skip unreadable frames (and count them) instead of failing"
    )
    enc.add_argument("--overwrite", action="store_true", help="replace OUTPUT (and its poster) if they exist")

    server_help = "the img2vid server (default: $IMG2VID_SERVER, else http://127.0.0.1:8000)"
    smt = sub.add_parser(
        "submit",
        help="send a job to an img2vid server; --wait follows it and downloads the video",
        description="Upload the frames of SOURCE (a local folder or glob) as one job and print its id; "
        "or, with --remote DIR, name a folder under the server's input root instead.",
    )
    smt.add_argument("source", metavar="SOURCE", nargs="?", help="a local folder of frames or a quoted glob")
    smt.add_argument("--server", metavar="URL", help=server_help)
    smt.add_argument(
        "--remote",
        metavar="DIR",
        help="a folder on the server, under its input root, instead of SOURCE; nothing is uploaded",
    )
    smt.add_argument(
        "--fps", help=f"frames per second, from {MIN_FPS:g} to {MAX_FPS:g} (server default {DEFAULT_FPS:g})"
    )
    smt.add_argument("--codec", help="one of: " + ", ".join(CODECS) + " (server default mp4v)")
    smt.add_argument("--size", help="output size WxH (default: the first frame's)")
    smt.add_argument("--fit", help=f"placing frames of another size: {', '.join(FITS)} (default {DEFAULT_FIT})")
    smt.add_argument("--pattern", help="only files in SOURCE whose names match this glob, e.g. 'cam1_*.jpg'")
    smt.add_argument("--name", metavar="STEM", help="the video's file name without extension (default: the job id)")
    smt.add_argument(
        "--wait", action="store_true", help="follow the job (a progress bar on a terminal), then download the video"
    )
    smt.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="with --wait: where to save the video, a file or a folder "
        "(default: the server's file name, here); an existing file is never replaced",
    )
    smt.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="sent as Idempotency-Key: submitting again with the same key "
        "returns the first job instead of making another",
    )

    st = sub.add_parser(
        "status", help="show one job of an img2vid server", description="Show the state and progress of JOB_ID."
    )
    st.add_argument("job_id", metavar="JOB_ID")
    st.add_argument("--server", metavar="URL", help=server_help)
    st.add_argument("--json", action="store_true", help="print the job's JSON instead of one line")

    up = sub.add_parser(
        "up",
        help="run the whole system here (Valkey, workers, web) until Ctrl-C",
        description="Start an embedded Valkey (its data under DIR/.valkey; the Redis at REDIS_URL instead when "
        "that is set), with --storage s3 an embedded SeaweedFS (its data and key pair under DIR/.seaweedfs; "
        "the store at IMG2VID_S3_ENDPOINT_URL instead when that is set), Celery workers and the web server as "
        "local processes under supervisord, without Docker; Ctrl-C or SIGTERM stops them all.",
    )
    up.add_argument("--workers", type=int, default=1, metavar="N", help="Celery worker processes (default 1)")
    up.add_argument("--port", type=int, default=8000, help="the web server's port on 127.0.0.1 (default 8000)")
    up.add_argument(
        "--data",
        metavar="DIR",
        help="the data folder: inputs/, uploads/, outputs/, logs/, .valkey/, .seaweedfs/ "
        "(default: $DATA_DIR, else ./data)",
    )
    up.add_argument(
        "--storage",
        choices=("local", "s3"),
        help="where job files go: local (the data folder) or s3 (a bucket: IMG2VID_S3_BUCKET, else img2vid; "
        "in an embedded SeaweedFS unless IMG2VID_S3_ENDPOINT_URL names a store) "
        "(default: $IMG2VID_STORAGE, else local)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "submit":
        if args.output and not args.wait:
            parser.error("submit: -o/--output needs --wait")
        if (args.source is None) == (args.remote is None):
            parser.error("submit: give SOURCE (local frames) or --remote DIR (a folder on the server), one of the two")
    # Imported here: each command loads only what it needs (encode: OpenCV; up: Redis).
    command = importlib.import_module(f"img2vid.cli.{args.command}")
    try:
        return command.run(args)
    except Img2VidError as exc:
        hint = " (pass --overwrite to replace it)" if isinstance(exc, OutputExistsError) else ""
        print(f"img2vid: error: {exc.message}{hint} [{exc.code}]", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("img2vid: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
