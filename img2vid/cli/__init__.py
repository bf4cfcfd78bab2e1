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
from img2vid.job import STATES

# The exit statuses, distinct for scripts (README: "Exit statuses").
OK, JOB_FAILED, USAGE, UNREACHABLE, TIMED_OUT = 0, 1, 2, 3, 4
EPILOG = """\
exit status:
  0  done
  1  the job failed or was cancelled (wait, submit --wait, download); encode or up failed
  2  bad usage: a wrong argument or option, or a request the server refused as the
     caller's mistake (4xx: unknown job, invalid option, wrong state, bad token)
  3  the server cannot be reached (refused, unknown host, timed out) or failed (5xx)
  4  wait --timeout passed before the job finished (it goes on)

The server is --server, else $IMG2VID_SERVER, else http://127.0.0.1:8000; the token
(for a server with IMG2VID_API_TOKENS) is $IMG2VID_TOKEN."""
# The commands that talk to a server (the others are encode and up).
CLIENT_COMMANDS = ("submit", "status", "list", "wait", "cancel", "retry", "delete", "download")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="img2vid",
        description="Turn folders of still frames into videos.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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

    # What every command that talks to a server takes.
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument(
        "--server", metavar="URL", help="the img2vid server (default: $IMG2VID_SERVER, else http://127.0.0.1:8000)"
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print the job's JSON (as the API gives it) instead")
    timeout = argparse.ArgumentParser(add_help=False)
    timeout.add_argument(
        "--timeout", type=float, metavar="S", help="give up waiting after S seconds (exit 4; the job goes on)"
    )
    one_job = argparse.ArgumentParser(add_help=False, parents=[server])
    one_job.add_argument("job_id", metavar="JOB_ID")

    def client_command(name: str, help: str, description: str, parents=()) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help, description=description, parents=[*parents], epilog="exit status: img2vid --help"
        )

    smt = client_command(
        "submit",
        "send a job to an img2vid server; --wait follows it and downloads the video",
        "Upload the frames of SOURCE (a local folder or glob) as one job and print its id; "
        "or, with --remote DIR, name a folder under the server's input root instead.",
        [server, as_json, timeout],
    )
    smt.add_argument("source", metavar="SOURCE", nargs="?", help="a local folder of frames or a quoted glob")
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

    client_command("status", "show one job", "Show the state and progress of JOB_ID.", [one_job, as_json])
    lst = client_command(
        "list", "list jobs, newest first", "A table of jobs: id, state, codec, frames, created.", [server, as_json]
    )
    lst.add_argument("--state", choices=STATES, help="only jobs in this state")
    lst.add_argument("--limit", type=int, default=20, metavar="N", help="at most N jobs, 1-500 (default 20)")
    lst.add_argument("--offset", type=int, default=0, metavar="N", help="skip the N newest first (default 0)")
    client_command(
        "wait",
        "follow a job until it finishes (a progress bar on a terminal)",
        "Follow JOB_ID by its events (or by polling, where the server streams none) until it has finished; "
        "print its line. Exit 1 if it failed or was cancelled.",
        [one_job, as_json, timeout],
    )
    client_command(
        "cancel", "cancel a job", "Cancel JOB_ID: a queued job at once, a running one within 2 s.", [one_job, as_json]
    )
    client_command(
        "retry", "run a job again", "Make a new job with JOB_ID's spec and frames; print its id.", [one_job, as_json]
    )
    client_command("delete", "remove a finished job and its files", "Remove finished JOB_ID and its files.", [one_job])
    dl = client_command(
        "download",
        "save a job's video",
        "Save the video of JOB_ID (exit 1 if the job failed or was cancelled); print a summary line.",
        [one_job, as_json],
    )
    dl.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="a file or a folder (default: the server's file name, here); an existing file is never replaced",
    )

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


def exit_status(command: str, exc: Img2VidError) -> int:
    """The exit status for an error (the table in EPILOG)."""
    if command not in CLIENT_COMMANDS:
        return JOB_FAILED  # encode and up: their failures are 1, as ever
    from img2vid.client import ClientError, JobFailedError, ServerUnreachableError, WaitTimeoutError

    if isinstance(exc, JobFailedError):
        return JOB_FAILED
    if isinstance(exc, WaitTimeoutError):
        return TIMED_OUT
    if isinstance(exc, ServerUnreachableError) or exc.code == "bad_response":
        return UNREACHABLE
    if isinstance(exc, ClientError) and exc.status is not None and exc.status >= 500:
        return UNREACHABLE
    # 4xx, a redirect, options checked before sending, a taken or unwritable output, a
    # local folder without frames: what the caller can fix.
    return USAGE


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "submit":
        if args.output and not args.wait:
            parser.error("submit: -o/--output needs --wait")
        if args.timeout is not None and not args.wait:
            parser.error("submit: --timeout needs --wait")
        if (args.source is None) == (args.remote is None):
            parser.error("submit: give SOURCE (local frames) or --remote DIR (a folder on the server), one of the two")
    if getattr(args, "timeout", None) is not None and not args.timeout > 0:
        parser.error(f"{args.command}: --timeout must be above 0")
    # Imported here: each command loads only what it needs (encode: OpenCV; up: Redis).
    command = importlib.import_module(f"img2vid.cli.{args.command}")
    try:
        return command.run(args)
    except Img2VidError as exc:
        hint = " (pass --overwrite to replace it)" if isinstance(exc, OutputExistsError) else ""
        print(f"img2vid: error: {exc.message}{hint} [{exc.code}]", file=sys.stderr)
        return exit_status(args.command, exc)
    except KeyboardInterrupt:
        print("img2vid: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
