"""The video goes up while it is written: a multipart upload whose parts are sent as
the file grows past them, so that publishing a finished encode sends only what is left.

Muxers go back to patch what they wrote (MP4's mdat size and Matroska's header at the
start, a Matroska cluster's size when it closes), so a part goes early only once the
file is a whole part past its end, part 1 always goes last, and before the upload is
completed every early part is compared (MD5) with the finished file and sent again if
it changed. The object appears at its key only on completion: whole, or not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path

from img2vid.storage.s3client import Patience

PART = 8 << 20  # S3 takes parts of 5 MiB and more (but the last)
_POLL = 0.25


class GrowingUpload:
    def __init__(self, client, bucket: str, key: str, folder: Path, suffix: str, patience: Patience) -> None:
        self.client, self.bucket, self.key, self.patience = client, bucket, key, patience
        self.folder, self.suffix = folder, suffix
        self.upload_id: str | None = None
        self.sent: dict[int, tuple[str, str]] = {}  # part number -> (its MD5, its ETag)
        self._stop = threading.Event()
        self._file = None
        self._thread = threading.Thread(target=self._watch, name=f"upload-{key}", daemon=True)
        self._thread.start()

    # --- while the engine writes ---------------------------------------------------------

    def _watch(self) -> None:
        try:
            while not self._stop.wait(_POLL):
                if self._file is None:
                    self._file = self._growing_file()
                if self._file is not None:
                    self._send_ready()
        except Exception:
            pass  # early parts are a head start only: finish() sends whatever is missing
        finally:
            if self._file is not None:
                self._file.close()

    def _growing_file(self):
        """The engine's temporary video in the slot's folder (the only file with its suffix)."""
        found = sorted(self.folder.glob(f".*.part{self.suffix}"))
        return open(found[0], "rb") if found else None

    def _send_ready(self) -> None:
        size = _size(self._file)
        number = max(self.sent, default=1) + 1  # part 1 waits for the end
        while not self._stop.is_set() and size >= number * PART + PART:
            self._send(number, _read(self._file, number), abandon=self._stop)
            number += 1

    def _send(self, number: int, data: bytes, stop=None, abandon=None) -> None:
        if self.upload_id is None:
            made = self.patience.call(
                lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key), stop, abandon
            )
            self.upload_id = made["UploadId"]
        answer = self.patience.call(
            lambda: self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
            ),
            stop,
            abandon,
        )
        self.sent[number] = (hashlib.md5(data, usedforsecurity=False).hexdigest(), answer["ETag"])

    # --- once it is written ----------------------------------------------------------------

    def finish(self, video: Path, stop=None) -> None:
        """Send what is missing or changed of the finished ``video`` and complete the upload."""
        self._halt()
        size = video.stat().st_size
        with open(video, "rb") as f:
            if self.upload_id is None and size <= PART:
                data = f.read()
                self.patience.call(lambda: self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data), stop)
                return
            parts = max(1, -(-size // PART))
            for number in range(1, parts + 1):
                data = _read(f, number)
                early = self.sent.get(number)
                if early is None or early[0] != hashlib.md5(data, usedforsecurity=False).hexdigest():
                    self._send(number, data, stop=stop)
            done = {"Parts": [{"PartNumber": n, "ETag": self.sent[n][1]} for n in range(1, parts + 1)]}
        self.patience.call(
            lambda: self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload=done
            ),
            stop,
        )
        self.upload_id = None

    def abort(self) -> None:
        """Give up: the store drops the parts (once; a store that is away keeps them)."""
        self._halt()
        if self.upload_id is not None:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            self.upload_id = None

    def _halt(self) -> None:
        self._stop.set()
        self._thread.join()


def _size(f) -> int:
    return os.fstat(f.fileno()).st_size


def _read(f, number: int) -> bytes:
    f.seek((number - 1) * PART)
    return f.read(PART)
