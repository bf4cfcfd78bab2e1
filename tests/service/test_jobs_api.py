"""Jobs through real HTTP, a real worker and Redis: create, watch, download, manage."""

from __future__ import annotations

import pytest

from servicetools import HEAVY_CODEC, frames_in, heavy_folder, input_folder, png_bytes, upload, zip_of
from videotools import needs_ffprobe, probe_stream, read_back


def test_a_folder_job_runs_end_to_end(service, tmp_path):
    # given 10 frames in a folder under the input root
    rel = input_folder(service, 10)
    # when a job names it
    status, headers, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "codec": "h264", "fps": 10})
    # then it is queued at once, with a Location to poll
    assert status == 202, job
    assert headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert job["state"] in ("queued", "running") and job["progress"]["frames_total"] == 10
    # and it finishes with a result describing the video
    done = service.wait_state(job["id"], "succeeded", "failed")
    assert done["state"] == "succeeded", done["error"]
    r = done["result"]
    assert (r["frames"], r["width"], r["height"], r["fps"], r["codec"]) == (10, 64, 48, 10.0, "h264")
    assert r["duration_seconds"] == pytest.approx(1.0)
    assert done["progress"] == {"frames_done": 10, "frames_total": 10, "percent": 100.0}
    assert done["started_at"] and done["finished_at"] and done["attempts"] == 1
    # and the video downloads whole
    status, headers, video = service.request("GET", r["video_url"])
    assert status == 200 and len(video) == r["bytes"] and headers["Content-Type"] == "video/mp4"
    path = tmp_path / "v.mp4"
    path.write_bytes(video)
    assert len(read_back(path)) == 10
    status, headers, poster = service.request("GET", r["poster_url"])
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and poster[:2] == b"\xff\xd8"


def test_an_upload_of_many_frames_keeps_natural_order(service, tmp_path):
    # given frames f0..f11 sent in a scrambled order, named without zero padding
    files = [("frames", f"f{i}.png", png_bytes(i)) for i in (3, 11, 0, 10, 2, 1, 5, 4, 9, 6, 8, 7)]
    status, _, job = upload(service, {"codec": "ffv1", "fps": "12"}, files)
    assert status == 202, job
    done = service.wait_state(job["id"], "succeeded", "failed")
    assert done["state"] == "succeeded", done["error"]
    _, _, video = service.request("GET", done["result"]["video_url"])
    (tmp_path / "v.mkv").write_bytes(video)
    # then the lossless video holds them f0, f1, f2 … f11
    assert [int(f.mean()) for f in read_back(tmp_path / "v.mkv")] == [i * 10 for i in range(12)]


def test_an_upload_of_one_zip(service, tmp_path):
    archive = zip_of([(f"shots/frame_{i}.png", png_bytes(i)) for i in range(6)] + [("shots/readme.txt", b"hi")])
    status, _, job = upload(service, {"codec": "vp9", "name": "holiday"}, [("archive", "shots.zip", archive)])
    assert status == 202, job
    done = service.wait_state(job["id"], "succeeded", "failed")
    assert done["state"] == "succeeded", done["error"]
    assert done["result"]["frames"] == 6
    status, headers, _ = service.request("GET", done["result"]["video_url"] + "?download=1")
    assert status == 200 and "filename=holiday.webm" in headers["Content-Disposition"]


def test_a_batch_queues_the_valid_items_and_explains_the_others(service):
    rel = input_folder(service, 4)
    specs = [
        {"source": {"dir": rel}},
        {"source": {"dir": rel}, "fps": 0},
        {"source": {"dir": "../etc"}},
        {"source": {"dir": rel}, "codec": "vp8"},
        {"source": {"dir": "no-such-folder"}},
    ]
    status, _, body = service.request("POST", "/api/v1/batch", {"jobs": specs})
    assert status == 202, body
    assert (body["accepted"], body["rejected"]) == (2, 3)
    items = body["jobs"]
    assert [i["index"] for i in items] == [0, 1, 2, 3, 4]
    assert items[1]["error"]["code"] == "bad_fps"
    assert items[2]["error"]["code"] == "bad_source"
    assert items[4]["error"]["code"] == "source_not_found"
    for item in (items[0], items[3]):
        assert service.wait_state(item["id"], "succeeded", "failed")["state"] == "succeeded"


def test_a_batch_with_nothing_valid_is_refused(service):
    status, _, body = service.request("POST", "/api/v1/batch", {"jobs": [{"fps": 1}]})
    assert status == 422 and body["accepted"] == 0 and body["jobs"][0]["error"]["code"] == "bad_source"


def slow_job(service) -> dict:
    """A job that encodes for seconds."""
    _, _, job = service.request(
        "POST", "/api/v1/jobs", {"source": {"dir": heavy_folder(service)}, "codec": HEAVY_CODEC}
    )
    return job


def test_cancel_a_running_job_stops_it_within_two_seconds(service):
    # given a job that is encoding
    job = slow_job(service)
    from img2vid.testing import wait_until

    wait_until(lambda: service.get_job(job["id"])["progress"]["frames_done"] > 0, 60, "encoding to start")
    # when it is cancelled
    status, _, body = service.request("POST", f"/api/v1/jobs/{job['id']}/cancel")
    assert status == 202, body
    # then it stops within 2 s and leaves no output behind
    done = service.wait_state(job["id"], "cancelled", "succeeded", "failed", timeout=2)
    assert done["state"] == "cancelled" and done["error"]["code"] == "cancelled"
    assert not (service.data / "outputs" / job["id"]).exists()
    # and cancelling again is a conflict
    assert service.request("POST", f"/api/v1/jobs/{job['id']}/cancel")[0] == 409


def test_cancel_a_queued_job_means_it_never_starts(service):
    # given the only worker busy with a long job, and a second job queued behind it
    busy = slow_job(service)
    service.wait_state(busy["id"], "running")
    _, _, queued = service.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, 3)}})
    assert queued["queue_position"] == 0  # the creating answer says so already
    assert service.get_job(queued["id"])["queue_position"] == 0
    # when the queued one is cancelled, it is cancelled at once
    status, _, body = service.request("POST", f"/api/v1/jobs/{queued['id']}/cancel")
    assert status == 202 and body["state"] == "cancelled"
    # then, once the worker is free again and has taken the next message, it never ran
    service.request("POST", f"/api/v1/jobs/{busy['id']}/cancel")
    service.wait_state(busy["id"], "cancelled")
    _, _, later = service.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, 3)}})
    service.wait_state(later["id"], "succeeded")
    after = service.get_job(queued["id"])
    assert after["state"] == "cancelled" and after["started_at"] is None and after["attempts"] == 0


def test_idempotency_key_replays_the_same_job(service):
    rel = input_folder(service, 3)
    spec = {"source": {"dir": rel}, "fps": 3}
    key = {"Idempotency-Key": f"k-{rel}"}
    s1, _, first = service.request("POST", "/api/v1/jobs", spec, headers=key)
    s2, h2, again = service.request("POST", "/api/v1/jobs", spec, headers=key)
    assert (s1, s2) == (202, 200)
    assert again["id"] == first["id"] and h2["Idempotent-Replayed"] == "true"
    # the same key with another request is refused, not silently replayed
    s3, _, body = service.request("POST", "/api/v1/jobs", {**spec, "fps": 4}, headers=key)
    assert s3 == 422 and body["error"]["code"] == "idempotency_key_reused"
    ids = [j["id"] for j in service.request("GET", "/api/v1/jobs?limit=500")[2]["jobs"]]
    assert ids.count(first["id"]) == 1


def test_idempotency_key_on_an_upload(service):
    files = [("frames", f"f{i}.png", png_bytes(i)) for i in range(3)]
    key = {"Idempotency-Key": "upload-key-1"}
    s1, _, first = upload(service, {}, files, headers=key)
    s2, _, again = upload(service, {}, files, headers=key)
    assert (s1, s2) == (202, 200) and again["id"] == first["id"]


def test_video_download_honours_range(service):
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, 8)}})
    done = service.wait_state(job["id"], "succeeded")
    _, _, whole = service.request("GET", done["result"]["video_url"])
    status, headers, part = service.request("GET", done["result"]["video_url"], headers={"Range": "bytes=100-199"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert part == whole[100:200]
    assert headers["Accept-Ranges"] == "bytes"


def test_an_unknown_job_is_404_everywhere(service):
    for method, path in [
        ("GET", ""),
        ("POST", "/cancel"),
        ("POST", "/retry"),
        ("GET", "/video"),
        ("GET", "/poster.jpg"),
        ("DELETE", ""),
    ]:
        status, _, body = service.request(method, f"/api/v1/jobs/0123456789abcdef00{path}")
        assert status == 404 and body["error"]["code"] == "job_not_found", (method, path)


def test_list_is_newest_first_and_filters_by_state(service):
    rel = input_folder(service, 2)
    ids = [service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})[2]["id"] for _ in range(3)]
    for i in ids:
        service.wait_state(i, "succeeded")
    jobs = service.request("GET", "/api/v1/jobs?limit=3")[2]["jobs"]
    assert [j["id"] for j in jobs] == ids[::-1]
    succeeded = service.request("GET", "/api/v1/jobs?state=succeeded&limit=500")[2]["jobs"]
    assert {j["state"] for j in succeeded} == {"succeeded"} and set(ids) <= {j["id"] for j in succeeded}
    page2 = service.request("GET", "/api/v1/jobs?limit=2&offset=1")[2]
    assert [j["id"] for j in page2["jobs"]] == ids[::-1][1:3] and page2["total"] >= 3 and page2["offset"] == 1
    assert service.request("GET", "/api/v1/jobs?state=bogus")[0] == 400
    assert service.request("GET", "/api/v1/jobs?limit=0")[0] == 400


def test_retry_makes_a_new_job_with_the_same_spec(service):
    files = [("frames", f"f{i}.png", png_bytes(i)) for i in range(4)]
    _, _, job = upload(service, {"fps": "2"}, files)
    service.wait_state(job["id"], "succeeded")
    status, headers, again = service.request("POST", f"/api/v1/jobs/{job['id']}/retry")
    assert status == 202 and again["id"] != job["id"] and again["spec"] == job["spec"]
    assert service.wait_state(again["id"], "succeeded")["result"]["frames"] == 4


def test_delete_removes_a_finished_job_and_its_files(service):
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, 2)}})
    service.wait_state(job["id"], "succeeded")
    assert (service.data / "outputs" / job["id"]).is_dir()
    assert service.request("DELETE", f"/api/v1/jobs/{job['id']}")[0] == 204
    assert service.request("GET", f"/api/v1/jobs/{job['id']}")[0] == 404
    assert not (service.data / "outputs" / job["id"]).exists()


def test_a_running_job_cannot_be_deleted(service):
    job = slow_job(service)
    service.wait_state(job["id"], "running")
    status, _, body = service.request("DELETE", f"/api/v1/jobs/{job['id']}")
    assert status == 409 and body["error"]["code"] == "job_state"
    service.request("POST", f"/api/v1/jobs/{job['id']}/cancel")
    service.wait_state(job["id"], "cancelled")


def test_a_failing_job_names_the_bad_file_as_the_client_named_it(service):
    rel = input_folder(service, 4, ext=".jpg")
    bad = service.inputs / rel / "frame_2.jpg"
    bad.write_bytes(bad.read_bytes()[:-60])  # truncated: the header is fine, decoding is not
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
    done = service.wait_state(job["id"], "failed", "succeeded")
    assert done["state"] == "failed"
    assert done["error"]["code"] == "unreadable_frame" and done["error"]["path"] == "frame_2.jpg"
    assert str(service.data) not in done["error"]["message"]


def test_inputs_lists_folders_with_frame_counts(service):
    frames_in(service.inputs / "browse" / "a", 3)
    frames_in(service.inputs / "browse" / "b", 5, ext=".jpg")
    (service.inputs / "browse" / "b" / "notes.txt").write_text("x")
    status, _, body = service.request("GET", "/api/v1/inputs?dir=browse")
    assert status == 200
    assert body["folders"] == [
        {"dir": "browse/a", "frames": 3, "folders": 0},
        {"dir": "browse/b", "frames": 5, "folders": 0},
    ]
    top = service.request("GET", "/api/v1/inputs")[2]
    assert any(f["dir"] == "browse" and f["folders"] == 2 for f in top["folders"])
    assert service.request("GET", "/api/v1/inputs?dir=../")[0] == 400


def test_health_readiness_and_metrics(service):
    assert service.request("GET", "/healthz")[0] == 200
    status, _, ready = service.request("GET", "/readyz")
    assert status == 200 and ready["redis"] and ready["workers"] >= 1
    status, headers, text = service.request("GET", "/metrics")
    assert status == 200 and b'img2vid_jobs{state="succeeded"}' in text and b"img2vid_workers 1" in text


def test_openapi_document_describes_the_routes(service):
    status, _, doc = service.request("GET", "/api/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert {"/api/v1/jobs", "/api/v1/batch", "/api/v1/jobs/{job_id}", "/api/v1/inputs"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    assert {"JobSpec", "Job", "ErrorResponse"} <= set(schemas)
    # made from the models the answers are made with: a refused batch item's status is
    # there, and an upload's fields are typed as the spec types them
    assert "status" in schemas["Rejected"]["required"]
    form = doc["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["codec"]["enum"] == ["mp4v", "h264", "vp9", "vp8", "mjpg", "ffv1"]
    assert form["properties"]["fps"]["maximum"] == 240 and "source" not in form["properties"]
    # and a job as sent matches its schema's fields
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, 2)}})
    assert set(job) == set(schemas["Job"]["properties"])


@needs_ffprobe
def test_ffprobe_agrees_with_the_result(service, tmp_path):
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, 7)}, "codec": "h264"})
    done = service.wait_state(job["id"], "succeeded")
    (tmp_path / "v.mp4").write_bytes(service.request("GET", done["result"]["video_url"])[2])
    info = probe_stream(tmp_path / "v.mp4", "nb_read_frames", "pix_fmt")
    assert (info["pix_fmt"], info["nb_read_frames"]) == ("yuv420p", "7")


def test_idempotency_key_on_an_upload_with_other_bytes_is_refused(service):
    key = {"Idempotency-Key": "upload-key-2"}
    s1, _, _ = upload(service, {}, [("frames", "f0.png", png_bytes(1))], headers=key)
    s2, _, body = upload(service, {}, [("frames", "f0.png", png_bytes(2, size=(32, 32)))], headers=key)
    assert (s1, s2) == (202, 422) and body["error"]["code"] == "idempotency_key_reused"


def test_files_of_a_job_that_has_not_succeeded_are_a_conflict(service):
    rel = input_folder(service, 3, ext=".jpg")
    (service.inputs / rel / "frame_1.jpg").write_bytes(b"broken")
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
    service.wait_state(job["id"], "failed")
    for path in ("video", "poster.jpg"):
        status, _, body = service.request("GET", f"/api/v1/jobs/{job['id']}/{path}")
        assert (status, body["error"]["code"]) == (409, "job_state")
