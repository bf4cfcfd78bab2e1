"""Limits: every one can be reached, each refusal names the limit (and the setting that
raises it), and a refused request leaves nothing stored. The system's limits are small
(conftest.LIMITS): 2,000 frames, 2 MiB a frame, 64 MiB a request."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import re
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from servicetools import input_folder, jpeg_bytes, multipart, png_bytes, strict_json, upload, zip_of

BOMB = Path("test-artifacts/.bomb-2gib-jpeg.zip")


def uploads_now(hostile) -> set[str]:
    folder = hostile.open.data / "uploads"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def send_large(service, body: bytes, headers: dict) -> tuple[int, dict]:
    """POST a body the server may refuse before reading it all (it answers, then closes):
    the client may find the pipe broken before it reads the answer."""
    conn = http.client.HTTPConnection(service.url.removeprefix("http://"), timeout=60)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request("POST", "/api/v1/jobs", body=body, headers=headers)
    resp = conn.getresponse()
    answer = strict_json(resp.read())
    service.ledger.note(f"large body {len(body)} {sorted(headers.items())}")
    assert resp.status < 500, answer
    return resp.status, answer


# --- frames per job ----------------------------------------------------------------------


def test_an_upload_of_1500_frames_through_the_pages_own_form_is_taken(hostile):
    # given a browser session on the page, with its CSRF token
    import http.cookiejar
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(hostile.open.url + "/").read().decode()
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    # when 1,500 frames are sent as the page sends them (werkzeug alone stops at 1,000 parts)
    fields = {"fps": "24", "codec": "mjpg", "fit": "contain"}
    body, ctype = multipart(fields, [("frames", f"shot_{i}.png", png_bytes(i % 20, (8, 8))) for i in range(1500)])
    req = urllib.request.Request(
        hostile.open.url + "/jobs/new", data=body, method="POST", headers={"Content-Type": ctype, "X-CSRF-Token": csrf}
    )
    with opener.open(req, timeout=120) as r:
        status, job = r.status, json.loads(r.read())
    # then the job is made of all of them, in order, and is encoded whole
    assert status == 202 and job["progress"]["frames_total"] == 1500, job
    done = hostile.open.wait_state(job["id"], "succeeded", "failed", timeout=120)
    assert done["state"] == "succeeded" and done["result"]["frames"] == 1500, done


def test_the_frame_limit_is_reached_and_named(hostile):
    # given exactly the limit of frames through the API: taken
    status, _, job = upload(
        hostile.open, {"codec": "mjpg"}, [("frames", f"f{i}.png", png_bytes(0, (4, 4))) for i in range(2000)]
    )
    assert status == 202 and job["progress"]["frames_total"] == 2000
    hostile.open.request("POST", f"/api/v1/jobs/{job['id']}/cancel")
    # when one more frame is sent, then 413 naming the limit and its setting, nothing kept
    before = uploads_now(hostile)
    files = [("frames", f"f{i}.png", png_bytes(0, (4, 4))) for i in range(2001)]
    status, _, body = upload(hostile.open, {}, files)
    assert (status, body["error"]["code"]) == (413, "too_many_frames")
    assert "2,000" in body["error"]["message"] and "IMG2VID_MAX_FRAMES" in body["error"]["message"]
    # and far more files than any job takes are refused while they stream in
    files += [("frames", f"g{i}.png", b"x") for i in range(200)]
    status, _, body = upload(hostile.open, {}, files)
    assert (status, body["error"]["code"]) == (413, "too_many_frames") and "IMG2VID_MAX_FRAMES" in body["error"][
        "message"
    ]
    assert uploads_now(hostile) == before
    # and a server folder over the limit too
    rel = input_folder(hostile.open, 2001, size=(4, 4))
    status, _, body = hostile.open.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
    assert (status, body["error"]["code"]) == (413, "too_many_frames") and "IMG2VID_MAX_FRAMES" in body["error"][
        "message"
    ]


# --- bytes -----------------------------------------------------------------------------------


def test_a_request_over_the_byte_limit_is_named_declared_or_chunked(hostile):
    before = uploads_now(hostile)
    body, ctype = multipart({}, [("archive", "big.zip", bytes(65 * 1024**2))])
    # when the size is declared, then 413 from the header alone
    status, answer = send_large(hostile.open, body, {"Content-Type": ctype})
    assert (status, answer["error"]["code"]) == (413, "request_too_large")
    assert "IMG2VID_MAX_REQUEST_BYTES" in answer["error"]["message"] and f"{len(body):,}" in answer["error"]["message"]
    # when it is sent chunked, with no size said, then the same limit stops it as it streams
    conn = http.client.HTTPConnection(hostile.open.url.removeprefix("http://"), timeout=60)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request(
            "POST",
            "/api/v1/jobs",
            body=iter([body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20)]),
            headers={"Content-Type": ctype},
            encode_chunked=True,
        )
    resp = conn.getresponse()
    answer = strict_json(resp.read())
    hostile.ledger.note("chunked body over the request limit")
    assert (resp.status, answer["error"]["code"]) == (413, "request_too_large")
    assert "IMG2VID_MAX_REQUEST_BYTES" in answer["error"]["message"]
    assert uploads_now(hostile) == before


def test_a_frame_over_the_byte_limit_is_refused_as_it_arrives(hostile):
    before = uploads_now(hostile)
    padded = jpeg_bytes() + bytes(3 * 1024**2)  # a JPEG padded with zeros past 2 MiB
    status, _, body = upload(hostile.open, {}, [("frames", "a.png", png_bytes()), ("frames", "padded_7.jpg", padded)])
    assert (status, body["error"]["code"]) == (413, "frame_too_large"), body
    assert body["error"]["path"] == "padded_7.jpg" and "IMG2VID_MAX_FRAME_BYTES" in body["error"]["message"]
    assert uploads_now(hostile) == before


def test_a_form_field_too_long_is_named(hostile):
    status, _, body = upload(hostile.open, {"name": "a" * 600_000}, [("frames", "a.png", png_bytes())])
    assert (status, body["error"]["code"]) == (413, "request_too_large") and "form field" in body["error"]["message"]


# --- archives ------------------------------------------------------------------------------


def bomb() -> bytes:
    """A zip of one JPEG padded with 2 GiB of zeros: about 2 MB compressed (made once)."""
    if not BOMB.exists():
        BOMB.parent.mkdir(parents=True, exist_ok=True)
        tmp = BOMB.with_suffix(".part")
        with (
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z,
            z.open("frame_0001.jpg", "w", force_zip64=True) as member,
        ):
            member.write(jpeg_bytes())
            zeros = bytes(64 * 1024**2)
            for _ in range(32):
                member.write(zeros)
        tmp.rename(BOMB)
    return BOMB.read_bytes()


def test_a_jpeg_padded_to_2_gib_in_a_2_mb_zip_is_refused_unopened(hostile):
    # given the limits as shipped (8 GiB unpacked per zip: the whole zip passes that)
    before = uploads_now(hostile)
    data = bomb()
    assert len(data) < 3 * 1024**2
    status, _, body = upload(hostile.shipped, {}, [("archive", "holiday.zip", data)])
    assert (status, body["error"]["code"]) == (413, "frame_too_large"), body
    assert "frame_0001.jpg" in body["error"]["message"] and "IMG2VID_MAX_FRAME_BYTES" in body["error"]["message"]
    assert uploads_now(hostile) == before


def bzip2_zip(name: str, size: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_BZIP2) as z:
        z.writestr(name, png_bytes() + bytes(size))
    return out.getvalue()


@pytest.mark.parametrize(
    "archive, code, words",
    [
        (lambda: bzip2_zip("f.png", 1024**2), "archive_too_large", "IMG2VID_MAX_ZIP_RATIO"),
        (lambda: zip_of([(f"f{i}.png", b"") for i in range(2501)]), "archive_too_large", "IMG2VID_MAX_ZIP_ENTRIES"),
        (
            lambda: zip_of(
                [(f"f{i}.png", png_bytes() + bytes(1900 * 1024)) for i in range(35)], compression=zipfile.ZIP_DEFLATED
            ),
            "archive_too_large",
            "IMG2VID_MAX_ZIP_BYTES",
        ),
        (lambda: zip_of([("../f.png", png_bytes())]), "bad_archive_member", "'..'"),
        (lambda: zip_of([("/etc/f.png", png_bytes())]), "bad_archive_member", "absolute"),
        (lambda: b"PK\x03\x04 not a zip", "bad_archive", "not a zip"),
        (lambda: zip_of([("notes.txt", b"hi")]), "no_frames", "no frames"),
    ],
    ids=["bzip2-ratio", "entries", "unpacked-bytes", "climbing", "absolute", "not-a-zip", "no-frames"],
)
def test_a_bad_archive_is_refused_by_name(hostile, archive, code, words):
    before = uploads_now(hostile)
    status, _, body = upload(hostile.open, {}, [("archive", "a.zip", archive())])
    assert body["error"]["code"] == code and words in body["error"]["message"], body
    assert status in (400, 413, 422)
    assert uploads_now(hostile) == before


@pytest.mark.parametrize("field", ["frames", "archive"])
def test_an_unreadable_frame_is_named_as_the_client_named_it_and_nothing_else(hostile, field):
    # given a frame that is not an image, uploaded alone or inside a zip
    broken = ("shots/broken_7.png", b"\x89PNG not really")
    files = (
        [("frames", "a.png", png_bytes()), ("frames", *broken)]
        if field == "frames"
        else [("archive", "a.zip", zip_of([("a.png", png_bytes()), broken]))]
    )
    status, _, body = upload(hostile.open, {}, files)
    # then it is named by the client's name; the message holds no server path (Hostile checks)
    assert (status, body["error"]["code"]) == (400, "unreadable_frame"), body
    assert "broken_7.png" in body["error"]["message"] and "uploads" not in body["error"]["message"]


def test_a_black_bmp_in_a_zip_is_not_taken_for_a_bomb(hostile):
    # given the most a deflated frame can expand (a black BMP, about 1,020 to 1)
    ok, bmp = cv2.imencode(".bmp", np.zeros((480, 640, 3), np.uint8))
    data = zip_of([("black_0.bmp", bmp.tobytes()), ("black_1.bmp", bmp.tobytes())], compression=zipfile.ZIP_DEFLATED)
    # then it is taken and encoded
    status, _, job = upload(hostile.open, {"codec": "mjpg"}, [("archive", "fade.zip", data)])
    assert status == 202, job
    assert hostile.open.wait_state(job["id"], "succeeded", "failed")["state"] == "succeeded"
