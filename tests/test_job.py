"""The one job model: its API JSON, its stored record, and the spec validated once."""

from __future__ import annotations

import json

import pytest

from img2vid.errors import BadSizeError, BadSourceError, Img2VidError, InvalidOptionError
from img2vid.job import ErrorBody, Job, JobSpec, Result
from img2vid.store.records import from_hash, outcome_json, to_hash

API_KEYS = {
    "id",
    "state",
    "progress",
    "queue_position",
    "eta_seconds",
    "segments",
    "created_at",
    "started_at",
    "finished_at",
    "attempts",
    "owner",
    "spec",
    "result",
    "error",
    "webhook",
}


def folder_spec(**fields) -> JobSpec:
    return JobSpec.parse({"source": {"dir": "shots"}, **fields}, upload=False, max_pixels=None)


def test_the_api_json_shows_the_contract_and_nothing_of_the_stores():
    # given a succeeded job, as a worker records it
    job = Job(
        id="abc123",
        state="succeeded",
        spec=folder_spec(fps="24", size="1280x720"),
        created_at=0.5,
        started_at=1.0,
        finished_at=2.25,
        frames_total=12,
        frames_done=7,
        worker="celery@w1",
        pid=42,
        result=Result(
            video="day1.mp4",
            frames=12,
            width=1280,
            height=720,
            fps=24.0,
            codec="mp4v",
            bytes=99,
            duration_seconds=0.5,
            bad_frames=1,
        ),
    )
    # when it is shown
    shown = job.api_json()
    # then it has the contract's fields, times in ISO 8601 UTC, all frames done, links to its files
    assert set(shown) == API_KEYS
    assert shown["created_at"] == "1970-01-01T00:00:00.500Z" and shown["finished_at"] == "1970-01-01T00:00:02.250Z"
    assert shown["progress"] == {"frames_done": 12, "frames_total": 12, "percent": 100.0}
    assert shown["result"] == {
        "frames": 12,
        "width": 1280,
        "height": 720,
        "fps": 24.0,
        "codec": "mp4v",
        "bytes": 99,
        "duration_seconds": 0.5,
        "video_url": "/api/v1/jobs/abc123/video",
        "poster_url": "/api/v1/jobs/abc123/poster.jpg",
    }
    # and the spec as it was given: the size as WxH, nothing that was not given
    assert shown["spec"] == {
        "source": {"dir": "shots"},
        "fps": 24.0,
        "codec": "mp4v",
        "size": "1280x720",
        "fit": "contain",
    }
    # and nothing only the store and the worker know (a path, a pid, the file name)
    text = json.dumps(shown)
    assert "celery@w1" not in text and "day1.mp4" not in text and "upload" not in shown


def test_a_record_reads_back_as_the_job_it_was_made_from():
    # given a queued upload job, stored, then finished with a result
    job = Job(
        id="abc123",
        state="queued",
        spec=JobSpec.parse({"codec": "H264", "name": "clip"}, upload=True, max_pixels=None),
        created_at=1.5,
        frames_total=3,
        upload=True,
        owner="alice",
    )
    record = {k: str(v) for k, v in to_hash(job).items()}
    result = Result(
        video="clip.mp4",
        frames=3,
        width=64,
        height=48,
        fps=5.0,
        codec="h264",
        bytes=10,
        duration_seconds=0.6,
        bad_frames=1,
    )
    record.update(state="succeeded", result=outcome_json(result), worker="w@h", pid="7", finished_at="2.5")
    # when it is read
    back = from_hash(record)
    # then it is the same job: its spec valid, its result whole, the store's fields too
    assert back.spec == job.spec and back.spec.codec == "h264" and back.spec.name == "clip"
    assert outcome_json(back.result) == outcome_json(result) and back.result.video_url.endswith("abc123/video")
    assert (back.upload, back.owner, back.worker, back.pid, back.finished_at) == (True, "alice", "w@h", 7, 2.5)


def test_a_stored_infinity_reads_as_null():
    record = {
        "id": "x",
        "state": "succeeded",
        "spec": "{}",
        "created_at": "1",
        "result": '{"video": "v.mp4", "frames": 1, "width": 2, "height": 2, "fps": 5, "codec": "mp4v", '
        '"bytes": 1, "duration_seconds": Infinity}',
    }
    assert from_hash(record).api_json()["result"]["duration_seconds"] is None


def test_an_error_body_shows_its_path_only_when_there_is_one():
    assert ErrorBody(code="x", message="m").model_dump(mode="json") == {"code": "x", "message": "m"}
    assert ErrorBody(code="x", message="m", path="f.png").model_dump(mode="json")["path"] == "f.png"


@pytest.mark.parametrize(
    "data, upload, code",
    [
        ({"fps": 5}, False, "bad_source"),  # a folder job needs its folder
        ({"source": None}, False, "bad_source"),
        ({"source": {"dir": "x"}}, True, "invalid_option"),  # an upload carries its frames
        ({"source": {"dir": "x", "colour": 1}}, False, "bad_source"),
        ({"source": {"dir": "x"}, "colour": "red"}, False, "invalid_option"),
        ([], False, "invalid_option"),
        ({"source": {"dir": "x"}, "name": "a\n"}, False, "bad_name"),
    ],
)
def test_a_spec_is_refused_with_the_code_of_what_is_wrong(data, upload, code):
    with pytest.raises(Img2VidError) as err:
        JobSpec.parse(data, upload=upload, max_pixels=None)
    assert err.value.code == code and err.value.message


def test_the_pixel_limit_is_the_servers_and_a_stored_spec_is_not_checked_again():
    # given the server's limit of one megapixel
    with pytest.raises(BadSizeError, match="IMG2VID_MAX_PIXELS"):
        JobSpec.parse({"size": "2000x1000"}, upload=True, max_pixels=1_000_000)
    # then a client checking without it (img2vid submit) lets the server decide
    assert JobSpec.parse({"size": "2000x1000"}, upload=True, max_pixels=None).size == (2000, 1000)
    # and a spec read back from the store is taken as it was stored
    assert JobSpec.model_validate({"size": "2000x1000"}).size == (2000, 1000)
    # while the codec's own limits always hold
    with pytest.raises(BadSizeError, match="mp4v"):
        JobSpec.parse({"codec": "mp4v", "size": "8192x64"}, upload=True, max_pixels=None)


def test_empty_form_fields_take_their_defaults():
    spec = JobSpec.parse({"fps": "", "codec": "", "size": "", "fit": "", "name": ""}, upload=True, max_pixels=None)
    assert spec.model_dump(mode="json") == {"fps": 5.0, "codec": "mp4v", "fit": "contain"}


def test_errors_are_the_classes_their_codes_name():
    with pytest.raises(BadSourceError):
        JobSpec.parse({"source": "x"}, upload=False, max_pixels=None)
    with pytest.raises(InvalidOptionError):
        JobSpec.parse({"x": 1}, upload=False, max_pixels=None)


def test_a_webhook_is_shown_from_the_fields_the_store_writes():
    # given a finished job with a webhook, whose delivery failed once, then succeeded
    job = Job(
        id="abc123",
        state="queued",
        spec=folder_spec(webhook_url="https://hooks.example.com/in?token=t"),
        created_at=1.0,
    )
    record = {k: str(v) for k, v in to_hash(job).items()}
    record.update(state="succeeded", finished_at="2.0", webhook_attempts="2", webhook_status="200")
    record.update(webhook_error="", webhook_attempt_at="3.5", webhook_delivered_at="3.5")
    # when it is read and shown
    shown = from_hash(record).api_json()
    # then its webhook says where and how it went, times as ISO 8601 like the others
    assert shown["spec"]["webhook_url"] == "https://hooks.example.com/in?token=t"
    assert shown["webhook"] == {
        "url": "https://hooks.example.com/in?token=t",
        "attempts": 2,
        "last_status": 200,
        "last_error": None,
        "last_attempt_at": "1970-01-01T00:00:03.500Z",
        "delivered_at": "1970-01-01T00:00:03.500Z",
        "gave_up_at": None,
    }
    # and one that timed out is said so; a job without a webhook_url has none
    record.update(webhook_status="timeout", webhook_delivered_at="")
    assert from_hash(record).api_json()["webhook"]["last_status"] == "timeout"
    assert Job(id="x", state="queued", spec=folder_spec(), created_at=1.0).api_json()["webhook"] is None
