"""Hostile JSON: wrong types, values no file system or encoder can take, bodies built
to break the parser. Each is a 400 with the usual error body, and in a batch one bad
item is that item's error."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from servicetools import input_folder

DIR = {"dir": "anything"}

BAD_SPECS = [
    # fps: the floor (a frame lasts at most 100 s), and what is not a number at all
    ({"fps": 5e-324}, "bad_fps"),
    ({"fps": 1e-300}, "bad_fps"),
    ({"fps": 0.009}, "bad_fps"),
    ({"fps": 10**400}, "bad_fps"),
    ({"fps": -(10**400)}, "bad_fps"),
    ({"fps": True}, "bad_fps"),
    ({"fps": [24]}, "bad_fps"),
    ({"fps": {"v": 24}}, "bad_fps"),
    ({"fps": "1e-300"}, "bad_fps"),
    ({"fps": "Infinity"}, "bad_fps"),
    ({"fps": "0x18"}, "bad_fps"),
    ({"fps": "24fps"}, "bad_fps"),
    # codec and the other enums, as numbers, lists, objects, booleans
    ({"codec": 5}, "unknown_codec"),
    ({"codec": ["h264"]}, "unknown_codec"),
    ({"codec": {"h264": 1}}, "unknown_codec"),
    ({"codec": True}, "unknown_codec"),
    ({"codec": 0}, "unknown_codec"),
    ({"codec": "h264\u0000"}, "unknown_codec"),
    ({"fit": 1}, "bad_fit"),
    ({"fit": ["cover"]}, "bad_fit"),
    ({"fit": {"a": 1}}, "bad_fit"),
    ({"size": 1920}, "bad_size"),
    ({"size": [1920, "x"]}, "bad_size"),
    ({"size": {"w": 2}}, "bad_size"),
    ({"size": "1920x1080x3"}, "bad_size"),
    ({"size": "99999999x2"}, "bad_size"),
    ({"size": True}, "bad_size"),
    # sizes the encoder cannot take: refused at submit from the codec's own limits
    ({"codec": "h264", "size": "16384x16384"}, "bad_size"),
    ({"codec": "mp4v", "size": "16384x16384"}, "bad_size"),
    ({"codec": "vp9", "size": "16384x16384"}, "bad_size"),
    ({"codec": "mp4v", "size": "8192x64"}, "bad_size"),
    ({"codec": "vp8", "size": "16384x2"}, "bad_size"),
    ({"codec": "h264", "size": "16386x2"}, "bad_size"),
    ({"codec": "vp8", "size": "4098x4098"}, "bad_size"),
    ({"name": 5}, "bad_name"),
    ({"name": ["a"]}, "bad_name"),
    ({"name": "a" * 101}, "bad_name"),
    ({"name": "a\nb"}, "bad_name"),
    ({"name": "\ud800"}, "bad_name"),
    # source: wrong shapes, lone surrogates (JSON can carry them; no path can hold them)
    ({"source": "shots"}, "bad_source"),
    ({"source": ["shots"]}, "bad_source"),
    ({"source": None}, "bad_source"),
    ({"source": {"dir": 5}}, "bad_source"),
    ({"source": {"dir": ["a"]}}, "bad_source"),
    ({"source": {"dir": ""}}, "bad_source"),
    ({"source": {"dir": "\ud800"}}, "bad_source"),
    ({"source": {"dir": "a\udfffb"}}, "bad_source"),
    ({"source": {"dir": "x", "pattern": "\ud800"}}, "bad_source"),
    ({"source": {"dir": "x", "pattern": 5}}, "bad_source"),
    ({"source": {"dir": "x", "pattern": ["*"]}}, "bad_source"),
    ({"source": {"dir": "x", "pattern": "a/b"}}, "bad_source"),
    ({"source": {"dir": "x", "\ud800": 1}}, "bad_source"),
    ({"source": {"dir": "x" * 2000}}, "bad_source"),
    ({"source": {"dir": "x", "pattern": "*" * 300}}, "bad_source"),
    ({"\ud800": 1}, "invalid_option"),
    ({"colour": "red"}, "invalid_option"),
]


def spec_with(change: dict) -> dict:
    return {"source": DIR, **change}


@pytest.mark.parametrize("change, code", BAD_SPECS, ids=[f"{i}-{c}" for i, (_, c) in enumerate(BAD_SPECS)])
def test_a_wrong_value_is_a_400_naming_it(hostile, change, code):
    # when a job is asked for with one value wrong
    status, _, body = hostile.open.request("POST", "/api/v1/jobs", spec_with(change))
    # then a 400 with the value's code, and a message a person can read
    assert (status, body["error"]["code"]) == (400, code), body
    assert body["error"]["message"]


def test_the_lowest_frame_rate_is_a_valid_video_with_a_finite_duration(hostile):
    # given the lowest fps there is (a frame lasts 100 s)
    rel = input_folder(hostile.open, 2)
    status, _, job = hostile.open.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "fps": 0.01})
    assert status == 202, job
    done = hostile.open.wait_state(job["id"], "succeeded", "failed")
    # then the job succeeds, with a duration that is a number (Infinity is not JSON)
    assert done["state"] == "succeeded", done
    assert done["result"]["duration_seconds"] == 200.0
    # and the listing every page reads stays strict JSON (the client fails on NaN or Infinity)
    assert hostile.open.request("GET", "/api/v1/jobs?limit=500")[0] == 200


def test_a_stored_record_holding_infinity_does_not_break_the_listing(hostile):
    # given a job whose stored result holds Infinity, as a record written before fps had a floor did
    rel = input_folder(hostile.open, 2)
    job = hostile.open.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})[2]
    hostile.open.wait_state(job["id"], "succeeded")
    from img2vid.store import JobStore
    from img2vid.store.testing import overwrite_record_field, record_field

    store = JobStore(hostile.open.redis, hostile.open.prefix)
    result = json.loads(record_field(store, job["id"], "result"))
    overwrite_record_field(store, job["id"], "result", json.dumps({**result, "duration_seconds": float("inf")}))
    # then the job and the listing are still strict JSON, the bad number read as null
    assert hostile.open.get_job(job["id"])["result"]["duration_seconds"] is None
    status, _, listing = hostile.open.request("GET", "/api/v1/jobs?limit=500")
    assert status == 200 and job["id"] in [j["id"] for j in listing["jobs"]]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b'{"source": {"dir": "x"}, "fps": NaN}',
        b'{"source": {"dir": "x"}, "fps": Infinity}',
        b'{"source": {"dir": "x"}, "fps": -Infinity}',
        b"\xff\xfe{}",
        b'{"source": {"dir": "\xed\xa0\x80"}}',  # a surrogate's UTF-8 bytes: not UTF-8 at all
        b"",
        b"null",
        b"[]",
        b'"job"',
        b"42",
        b"{",
        b'{"source": {"dir": "x"}} trailing',
    ],
    ids=[
        "array-100k-deep",
        "object-100k-deep",
        "NaN",
        "Infinity",
        "-Infinity",
        "utf16-bom",
        "surrogate-bytes",
        "empty",
        "null",
        "array",
        "string",
        "number",
        "cut-off",
        "trailing",
    ],
)
def test_a_body_built_to_break_the_parser_is_a_400(hostile, body):
    status, _, answer = hostile.open.request(
        "POST", "/api/v1/jobs", raw=body, headers={"Content-Type": "application/json"}
    )
    assert status == 400 and answer["error"]["code"] in ("invalid_option", "bad_source"), answer


def _raw(url: str, request: bytes) -> bytes:
    """Send bytes as they are (a malformed body no HTTP library would send) and read the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)  # nothing more is coming: a server waiting for a body sees its end
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\n{}\r\n0\r\n\r\n",  # a chunk size that is not hex
        b"2\r\n{}XX0\r\n\r\n",  # a chunk without its line end
        b"2;\x00=\x01\r\n{}\r\n0\r\n\r\n",  # a chunk extension of control bytes
        b"ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",  # a size past any integer
    ],
    ids=["bad-size", "no-terminator", "bad-extension", "huge-size"],
)
@pytest.mark.parametrize(
    "path, ctype",
    [
        ("/api/v1/jobs", "application/json"),
        ("/api/v1/jobs", "multipart/form-data; boundary=b"),
        ("/api/v1/batch", "application/json"),
    ],
)
def test_a_malformed_chunked_body_is_a_400(hostile, body, path, ctype):
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    answer = _raw(hostile.open.url, head + body)
    status = int(answer.split(b" ", 2)[1])
    hostile.ledger.note(f"chunked {path} {ctype} {body!r}")
    assert status == 400, answer[:300]
    if b"application/json" in answer.split(b"\r\n\r\n")[0]:
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"]


def test_one_bad_item_in_a_batch_is_that_items_error(hostile):
    # given a batch where every kind of bad item sits beside a good one
    rel = input_folder(hostile.open, 2)
    good = {"source": {"dir": rel}, "codec": "mjpg"}
    bad = [spec_with(change) for change, _ in BAD_SPECS] + [7, "job", None, [], {"source": {"dir": "../x"}}]
    assert len(bad) - 24 <= 50  # the system's batch limit
    items = bad[:24] + [good]
    status, _, body = hostile.open.request("POST", "/api/v1/batch", {"jobs": items})
    # then the batch is accepted for the good item, and each bad one is refused by itself
    assert status == 202, body
    assert (body["accepted"], body["rejected"]) == (1, 24)
    for item in body["jobs"][:24]:
        assert item["status"] == 400 and item["error"]["code"], item
    assert hostile.open.wait_state(body["jobs"][24]["id"], "succeeded")["state"] == "succeeded"
    # and a batch of only bad items is refused whole, with every item's reason
    status, _, body = hostile.open.request("POST", "/api/v1/batch", {"jobs": bad[24:]})
    assert status == 422 and body["rejected"] == len(bad[24:])


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"jobs": "all"}, 400, "invalid_option"),
        ({"jobs": {}}, 400, "invalid_option"),
        ({"jobs": []}, 400, "invalid_option"),
        ([], 400, "invalid_option"),
        ({"jobs": [{}] * 51}, 413, "batch_too_large"),
    ],
)
def test_a_batch_of_the_wrong_shape_is_refused_whole(hostile, body, status, code):
    got, _, answer = hostile.open.request("POST", "/api/v1/batch", body)
    assert (got, answer["error"]["code"]) == (status, code), answer
    if code == "batch_too_large":
        assert "IMG2VID_MAX_BATCH" in answer["error"]["message"]
