"""An S3-compatible object store: the same three areas as the volume, as key prefixes
under IMG2VID_S3_PREFIX in IMG2VID_S3_BUCKET. Web and workers share nothing else.

inputs/<dir>/<frame>       frames of folder jobs (put there by whoever has them)
uploads/<job>/<saved>      uploaded frames, names.json beside them
outputs/<job>/<video>      the video (a multipart upload sent as it is written: no object until whole)
outputs/<job>/poster.jpg
segments/<job>/<i><suffix> a split job's segments until joined; poster.jpg (the first's)
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fnmatch
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import urlsplit

import botocore.exceptions as bx
from boto3.s3.transfer import TransferConfig

from img2vid.engine.discovery import natural_key, no_frames
from img2vid.engine.images import checked_bytes, is_image_name, too_many_bytes
from img2vid.engine.sources import FrameList
from img2vid.errors import BadSourceError, NoFramesError, UnreadableFrameError, VerifyFailedError
from img2vid.job import Job
from img2vid.settings import Settings
from img2vid.storage.base import (
    AREAS,
    MAX_FOLDERS,
    NAMES_FILE,
    POSTER,
    InputFolder,
    JobFolder,
    OutputSlot,
    SegmentParts,
    StopCheck,
    Storage,
    StoredFile,
    check_input_dir,
)
from img2vid.storage.s3client import Patience, is_not_found, make_client, translate
from img2vid.storage.s3upload import GrowingUpload

_DIRECT = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, use_threads=False)
_DELETE_BATCH = 1000
# Where a worker writes a job's video before it goes up: img2vid-<job>-<pid>-<random>.
_SCRATCH = "img2vid-"


@dataclass(frozen=True)
class ObjectFrame:
    """One frame in the store; read with a GET (retried while the store is away)."""

    name: str
    key: str
    bytes: int
    store: S3Storage
    abandon: threading.Event  # set when the encode stops: a read waiting on the store gives up

    def read(self, max_bytes: int) -> bytes:
        if self.bytes > max_bytes:
            raise too_many_bytes(self.name, max_bytes, self.bytes)

        def get() -> bytes:
            try:
                # Never more than the limit, even if the object was replaced since it was listed.
                answer = self.store.client.get_object(Bucket=self.store.bucket, Key=self.key)
                with answer["Body"] as body:
                    data = body.read(max_bytes + 1)
                # boto3 checks the length only of a read to the end: a connection cut
                # mid-body (a store killed) gives fewer bytes, and no error, otherwise.
                expected = min(int(answer.get("ContentLength", len(data))), max_bytes + 1)
                if len(data) < expected:
                    raise bx.IncompleteReadError(actual_bytes=len(data), expected_bytes=expected)
                return data
            except Exception as exc:
                if is_not_found(exc):
                    raise UnreadableFrameError(f"{self.name}: it is gone from the store", path=self.name) from None
                raise

        return checked_bytes(self.name, self.store.patience.call(get, abandon=self.abandon), max_bytes)

    def size(self) -> int:
        return self.bytes

    def header(self, max_pixels: int, max_bytes: int) -> None:
        return None  # a GET of its own: read from the bytes instead


class ObjectFile(StoredFile):
    def __init__(self, store: S3Storage, key: str, head: dict) -> None:
        self.store, self.key = store, key
        self.name = PurePosixPath(key).name
        self.size = int(head["ContentLength"])
        self.etag = str(head.get("ETag", "")).strip('"') or None
        modified = head.get("LastModified")
        self.modified = modified.timestamp() if modified else None

    def presigned_url(self) -> str | None:
        return self.store.presigned_url(self.key)

    def open(self, offset: int = 0) -> BinaryIO:
        kw = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            return self.store.client.get_object(Bucket=self.store.bucket, Key=self.key, **kw)["Body"]
        except Exception as exc:
            raise translate(exc, self.store.where) from None


class ObjectSlot(OutputSlot):
    """The engine writes into a scratch folder on this machine while the video goes up
    part by part (s3upload.py); publish() puts the poster, sends the rest of the video,
    completes its upload and checks the size the store holds."""

    def __init__(self, store: S3Storage, job: Job, name: str, suffix: str, area: str = "outputs") -> None:
        self.store = store
        _sweep_dead_scratch()
        self.scratch = _scratch(job.id)
        self.video, self.poster = self.scratch / name, self.scratch / POSTER
        self.video_key = store.job_key(area, job.id, name)
        self.poster_key = store.job_key(area, job.id, POSTER)
        self.upload = GrowingUpload(store.client, store.bucket, self.video_key, self.scratch, suffix, store.patience)

    def publish(self, stop: StopCheck | None = None) -> None:
        s = self.store
        if self.poster.exists():  # a split job's later segments have none
            poster = self.poster.read_bytes()
            s.patience.call(lambda: s.client.put_object(Bucket=s.bucket, Key=self.poster_key, Body=poster), stop=stop)
        self.upload.finish(self.video, stop=stop)
        held = s.patience.call(lambda: s.client.head_object(Bucket=s.bucket, Key=self.video_key), stop=stop)
        if int(held["ContentLength"]) != self.video.stat().st_size:
            raise VerifyFailedError(
                f"the store holds {held['ContentLength']} bytes of {self.video.name}, "
                f"{self.video.stat().st_size} were written"
            )

    def close(self) -> None:
        self.upload.abort()  # nothing if it was completed
        shutil.rmtree(self.scratch, ignore_errors=True)


class S3Storage(Storage):
    kind = "s3"

    def __init__(self, s: Settings, *, retry_seconds: float = 0) -> None:
        self.settings = s
        self.bucket, self.prefix = s.s3_bucket, s.s3_prefix
        self.where = f"bucket {self.bucket!r}" + (f" at {s.s3_endpoint_url}" if s.s3_endpoint_url else "")
        self.patience = Patience(retry_seconds, self.where)
        self._connect()
        # Celery's pool forks after the worker made this: a child must not share the
        # parent's open connections (two processes on one socket mix their answers).
        os.register_at_fork(after_in_child=self._connect)

    def _connect(self) -> None:
        s = self.settings
        self.client = make_client(s)
        self._presigner = _public_client(s) if s.s3_public_endpoint_url else self.client

    def describe(self) -> str:
        return self.where

    def download_origin(self) -> str | None:
        if not self.settings.s3_presign_seconds:
            return None
        endpoint = self.settings.s3_public_endpoint_url or self.settings.s3_endpoint_url
        if not endpoint:  # AWS: the bucket's own host name, in any region
            return "https://*.amazonaws.com"
        parts = urlsplit(endpoint)
        return f"{parts.scheme}://{parts.netloc}"

    def _call(self, fn, stop: StopCheck | None = None):
        return self.patience.call(fn, stop=stop)

    def check(self) -> None:
        self._call(lambda: self.client.head_bucket(Bucket=self.bucket))

    # --- keys -------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def job_key(self, area: str, job_id: str, name: str) -> str:
        """The key of a job's file ``name`` in ``area`` (outputs, segments)."""
        return self._key(area, job_id, name)

    def _pages(self, prefix: str, stop: StopCheck | None = None, **kw) -> Iterator[dict]:
        """Every page of the listing under ``prefix`` (1,000 keys each), each request
        waited out as any other while the store is away (boto3's paginator would not)."""
        kw = {"Bucket": self.bucket, "Prefix": prefix, **kw}
        while True:
            page = self._call(lambda kw=kw: self.client.list_objects_v2(**kw), stop)
            yield page
            if not page.get("IsTruncated"):
                return
            kw = {**kw, "ContinuationToken": page["NextContinuationToken"]}

    def _objects(self, prefix: str, stop: StopCheck | None = None) -> Iterator[dict]:
        """Every object under ``prefix``, however deep."""
        for page in self._pages(prefix, stop):
            yield from page.get("Contents", [])

    def _listing(self, prefix: str, stop: StopCheck | None = None) -> tuple[list[dict], list[str]]:
        """(objects directly under ``prefix``, its sub-prefixes): one level, as a folder."""
        files, subs = [], []
        for page in self._pages(prefix, stop, Delimiter="/"):
            files += page.get("Contents", [])
            subs += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        return files, subs

    def _delete_under(self, prefix: str) -> None:
        keys = [o["Key"] for o in self._objects(prefix)]
        for i in range(0, len(keys), _DELETE_BATCH):
            batch = {"Objects": [{"Key": k} for k in keys[i : i + _DELETE_BATCH]], "Quiet": True}
            self._call(lambda batch=batch: self.client.delete_objects(Bucket=self.bucket, Delete=batch))

    def _frames(self, objects: list[dict], where: str) -> FrameList:
        abandon = threading.Event()
        named = [(PurePosixPath(o["Key"]).name, o) for o in objects]
        frames = sorted(
            (ObjectFrame(n, o["Key"], int(o["Size"]), self, abandon) for n, o in named if is_image_name(n)),
            key=lambda f: natural_key(f.name),
        )
        skipped = sum(1 for n, _ in named if not is_image_name(n) and n != NAMES_FILE)
        return FrameList(frames, where, skipped, fetch_ahead=self.settings.s3_concurrency, on_stop=abandon.set)

    # --- the input root -------------------------------------------------------------

    def _input_prefix(self, rel: str) -> str:
        check_input_dir(rel)
        parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
        if ".." in parts:
            raise BadSourceError(f"source.dir {rel!r} points outside the input root")
        return self._key("inputs", *parts) + "/"

    def input_frames(self, rel: str, pattern: str | None = None, stop: StopCheck | None = None) -> FrameList:
        prefix = self._input_prefix(rel)
        files, subs = self._listing(prefix, stop)
        where = f"folder {rel}" + (f" with pattern {pattern!r}" if pattern else "")
        if not files and not subs:
            raise BadSourceError(f"source.dir {rel!r} is not a folder under the input root", code="source_not_found")
        if pattern:
            files = [o for o in files if fnmatch.fnmatch(PurePosixPath(o["Key"]).name, pattern)]
        found = self._frames(files, where)
        if not found.frames:
            raise no_frames(where, found.skipped, rel)
        return found

    def list_inputs(self, rel: str) -> tuple[int, list[InputFolder]]:
        prefix = self._input_prefix(rel)
        files, subs = self._listing(prefix)
        if rel and not files and not subs:
            raise BadSourceError(f"source.dir {rel!r} is not a folder under the input root", code="source_not_found")
        root = self._key("inputs") + "/"
        folders = []
        for sub in sorted(subs, key=str.casefold)[:MAX_FOLDERS]:
            name = sub[len(root) :].rstrip("/")
            if PurePosixPath(name).name.startswith("."):
                continue
            inner, deeper = self._listing(sub)
            folders.append(InputFolder(name, _frame_count(inner), len(deeper)))
        return _frame_count(files), folders

    # --- one job's files ------------------------------------------------------------

    def save_upload(self, job_id: str, frames: Iterable[tuple[str, BinaryIO]], names: dict[str, str]) -> None:
        """Frames go up a few at once (IMG2VID_S3_CONCURRENCY), each streamed from the
        request's spooled file; names.json last, so an upload without it is unfinished."""
        with cf.ThreadPoolExecutor(self.settings.s3_concurrency, thread_name_prefix="img2vid-put") as pool:
            pending: set[cf.Future] = set()
            for saved, stream in frames:
                key = self._key("uploads", job_id, saved)
                pending.add(pool.submit(self._put_stream, stream, key))
                if len(pending) >= 2 * self.settings.s3_concurrency:  # bounded: never every frame open at once
                    done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    for f in done:
                        f.result()
            for f in cf.as_completed(pending):
                f.result()
        body = json.dumps(names).encode()
        key = self._key("uploads", job_id, NAMES_FILE)
        self._call(lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body))

    def _put_stream(self, stream: BinaryIO, key: str) -> None:
        try:
            self.client.upload_fileobj(stream, self.bucket, key, Config=_DIRECT)
        except Exception as exc:
            raise translate(exc, self.where) from None
        finally:
            stream.close()

    def client_names(self, job: Job) -> dict[str, str]:
        if not job.upload:
            return {}
        key = self._key("uploads", job.id, NAMES_FILE)
        try:
            body = self._call(lambda: self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except Exception:
            return {}  # only for messages: a frame is then named as it was saved
        return json.loads(body)

    def copy_upload(self, from_job: str, to_job: str) -> bool:
        """Copied inside the store: no byte comes through web."""
        src = self._key("uploads", from_job) + "/"
        objects = list(self._objects(src))
        if not any(o["Key"].endswith("/" + NAMES_FILE) for o in objects):
            return False
        dst = self._key("uploads", to_job) + "/"
        for o in objects:
            source = {"Bucket": self.bucket, "Key": o["Key"]}
            key = dst + o["Key"][len(src) :]
            self._call(lambda s=source, k=key: self.client.copy_object(Bucket=self.bucket, Key=k, CopySource=s))
        return True

    def upload_frames(self, job: Job, stop: StopCheck | None = None) -> FrameList:
        objects = list(self._objects(self._key("uploads", job.id) + "/", stop))
        found = self._frames(objects, "the uploaded frames")
        if not found.frames:
            raise NoFramesError("the uploaded frames are gone from the store")
        return found

    def output_slot(self, job: Job, suffix: str) -> OutputSlot:
        return ObjectSlot(self, job, f"{job.spec.name or job.id}{suffix}", suffix)

    def segment_slot(self, job: Job, index: int, suffix: str) -> OutputSlot:
        return ObjectSlot(self, job, f"{index}{suffix}", suffix, area="segments")

    @contextlib.contextmanager
    def segment_parts(self, job: Job, count: int, suffix: str) -> Iterator[SegmentParts]:
        """Each segment fetched into a scratch folder (the join reads them in turn)."""
        scratch = _scratch(job.id)
        try:
            names = [f"{i}{suffix}" for i in range(count)] + [POSTER]
            for name in names:
                key = self._key("segments", job.id, name)
                self._call(lambda k=key, n=name: self.client.download_file(self.bucket, k, str(scratch / n)))
            yield SegmentParts([scratch / n for n in names[:-1]], scratch / POSTER)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def remove_segments(self, job_id: str) -> None:
        self._delete_under(self._key("segments", job_id) + "/")

    def output_file(self, job: Job, which: str) -> StoredFile | None:
        assert job.result is not None
        key = self.job_key("outputs", job.id, job.result.video if which == "video" else POSTER)

        def head() -> dict | None:
            try:
                return self.client.head_object(Bucket=self.bucket, Key=key)
            except bx.ClientError as exc:
                if is_not_found(exc):
                    return None
                raise

        found = self._call(head)
        return ObjectFile(self, key, found) if found is not None else None

    def private_places(self, job: Job) -> dict[str, str]:
        return {tempfile.gettempdir(): "the worker's scratch folder"}

    def presigned_url(self, key: str) -> str | None:
        seconds = self.settings.s3_presign_seconds
        if not seconds:
            return None
        return self._presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
        )

    def remove_upload(self, job_id: str) -> None:
        self._delete_under(self._key("uploads", job_id) + "/")

    def remove_output(self, job_id: str) -> None:
        self._delete_under(self._key("outputs", job_id) + "/")

    # --- every job's folders --------------------------------------------------------

    def job_folders(self) -> Iterator[JobFolder]:
        """Every job's prefix under uploads/ and outputs/, changed when its newest object was."""
        for area in AREAS:
            base = self._key(area) + "/"
            newest: dict[str, float] = {}
            for o in self._objects(base):
                job_id = o["Key"][len(base) :].split("/", 1)[0]
                newest[job_id] = max(newest.get(job_id, 0.0), o["LastModified"].timestamp())
            for job_id, changed in newest.items():
                yield JobFolder(area, job_id, changed)

    def remove_folder(self, folder: JobFolder) -> None:
        self._delete_under(self._key(folder.area, folder.job_id) + "/")


def _scratch(job_id: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{_SCRATCH}{job_id}-{os.getpid()}-"))


def _sweep_dead_scratch() -> None:
    """Remove scratch folders whose process is gone (a worker killed mid-job cannot
    remove its own; a container's /tmp outlives its restarts)."""
    for path in Path(tempfile.gettempdir()).glob(f"{_SCRATCH}*-*-*"):
        try:
            pid = int(path.name[len(_SCRATCH) :].split("-")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue  # not ours, or another user's live process


def _frame_count(objects: list[dict]) -> int:
    return sum(1 for o in objects if is_image_name(PurePosixPath(o["Key"]).name))


def _public_client(s: Settings):
    """A client that signs URLs for the endpoint browsers reach (compose's internal
    host name is not one of them); it never sends a request itself."""
    return make_client(s.model_copy(update={"s3_endpoint_url": s.s3_public_endpoint_url}))
