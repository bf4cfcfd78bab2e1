"""Every bad input gets its 4xx and a stable code, and nothing stored is lost."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import stat
import struct
import zipfile
import zlib

import pytest

from servicetools import input_folder, multipart, png_bytes, upload, zip_of


def post(service, body):
    return service.request("POST", "/api/v1/jobs", body)


def error(result) -> tuple[int, str]:
    status, _, body = result
    return status, body["error"]["code"]


def uploads_now(service) -> set[str]:
    d = service.data / "uploads"
    return {p.name for p in d.iterdir()} if d.exists() else set()


@pytest.mark.parametrize(
    "change, code",
    [
        ({"fps": 0}, "bad_fps"),
        ({"fps": -3}, "bad_fps"),
        ({"fps": 241}, "bad_fps"),
        ({"fps": "nan"}, "bad_fps"),
        ({"fps": "fast"}, "bad_fps"),
        ({"codec": "divx"}, "unknown_codec"),
        ({"size": "huge"}, "bad_size"),
        ({"size": "0x10"}, "bad_size"),
        ({"fit": "zoom"}, "bad_fit"),
        ({"name": "../evil"}, "bad_name"),
        ({"colour": "red"}, "invalid_option"),
    ],
)
def test_bad_options_in_json(service, change, code):
    assert error(post(service, {"source": {"dir": "anything"}, **change})) == (400, code)


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"fps": "0"}, "bad_fps"),
        ({"codec": "divx"}, "unknown_codec"),
        ({"size": "1x"}, "bad_size"),
        ({"fit": "zoom"}, "bad_fit"),
        ({"source": "x"}, "invalid_option"),
    ],
)
def test_bad_options_in_a_form(service, fields, code):
    before = uploads_now(service)
    assert error(upload(service, fields, [("frames", "a.png", png_bytes())])) == (400, code)
    assert uploads_now(service) == before


@pytest.mark.parametrize(
    "rel",
    ["../x", "../../etc", "/etc", "%2e%2e/x", "a/%2e%2e/%2e%2e/x", "a\x00b", "C:\\Windows", "inputs/../../x"],
)
def test_paths_escaping_the_input_root_are_refused(service, rel):
    assert error(post(service, {"source": {"dir": rel}})) == (400, "bad_source")


def test_a_symlink_out_of_the_input_root_is_refused(service, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "f0.png").write_bytes(png_bytes())
    os.symlink(outside, service.inputs / "sneaky")
    assert error(post(service, {"source": {"dir": "sneaky"}})) == (400, "bad_source")
    assert error(service.request("GET", "/api/v1/inputs?dir=sneaky")) == (400, "bad_source")


def test_a_missing_folder_or_source(service):
    assert error(post(service, {"source": {"dir": "not-there"}})) == (400, "source_not_found")
    assert error(post(service, {"fps": 5})) == (400, "bad_source")
    assert error(post(service, {"source": {"dir": input_folder(service, 2), "pattern": "../*"}})) == (400, "bad_source")


def test_a_folder_without_frames(service):
    (service.inputs / "empty-one").mkdir()
    assert error(post(service, {"source": {"dir": "empty-one"}})) == (422, "no_frames")


def test_not_json_and_not_an_upload(service):
    status, _, body = service.request("POST", "/api/v1/jobs", raw=b"fps=5", headers={"Content-Type": "text/plain"})
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    status, _, body = service.request(
        "POST", "/api/v1/jobs", raw=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert (status, body["error"]["code"]) == (400, "invalid_option")


def test_a_request_over_the_size_limit_is_413_and_stores_nothing(service):
    before = uploads_now(service)
    body, ctype = multipart({}, [("frames", "a.png", os.urandom(9 * 1024 * 1024))])  # the tests' limit is 8 MiB
    # The server answers from Content-Length alone and closes without reading the body,
    # so the client may find the pipe broken before it reads the answer.
    conn = http.client.HTTPConnection(service.url.removeprefix("http://"), timeout=30)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request("POST", "/api/v1/jobs", body=body, headers={"Content-Type": ctype})
    resp = conn.getresponse()
    assert resp.status == 413
    assert json.loads(resp.read())["error"]["code"] == "request_too_large"
    assert uploads_now(service) == before


def test_too_many_frames(service):
    files = [("frames", f"f{i}.png", png_bytes()) for i in range(401)]  # the tests' limit is 400
    assert error(upload(service, {}, files)) == (413, "too_many_frames")
    rel = input_folder(service, 401, size=(4, 4))
    assert error(post(service, {"source": {"dir": rel}})) == (413, "too_many_frames")


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def test_a_frame_over_the_pixel_limit_is_refused_from_its_header(service):
    before = uploads_now(service)
    files = [("frames", "ok.png", png_bytes()), ("frames", "giant.png", png_header_only(3000, 3000))]
    status, _, body = upload(service, {}, files)
    assert (status, body["error"]["code"]) == (413, "frame_too_large")
    assert "giant.png" in body["error"]["message"]
    assert uploads_now(service) == before


def test_an_unreadable_upload_is_named(service):
    files = [("frames", "ok.png", png_bytes()), ("frames", "broken_7.png", b"\x89PNG not really")]
    status, _, body = upload(service, {}, files)
    assert (status, body["error"]["code"]) == (400, "unreadable_frame")
    assert body["error"]["path"] == "broken_7.png"


def test_no_frames_in_an_upload(service):
    assert error(upload(service, {}, [("frames", "notes.txt", b"hello")])) == (422, "no_frames")
    assert error(upload(service, {}, [])) == (400, "bad_upload")


def test_uploaded_file_names_are_never_used_as_paths(service):
    # given frames whose names try to climb out of the upload folder
    files = [("frames", "../../../escaped_0.png", png_bytes(0)), ("frames", "/tmp/escaped_1.png", png_bytes(1))]
    status, _, job = upload(service, {}, files)
    # then the job is made of them, and nothing landed where the names pointed
    assert status == 202, job
    assert service.wait_state(job["id"], "succeeded")["result"]["frames"] == 2
    assert not (service.data.parent / "escaped_0.png").exists() and not os.path.exists("/tmp/escaped_1.png")
    saved = sorted(p.name for p in (service.data / "uploads" / job["id"]).iterdir())
    assert saved == ["000000.png", "000001.png", "names.json"]


def test_a_zip_with_too_many_entries_is_refused_before_extracting(service):
    before = uploads_now(service)
    archive = zip_of([(f"f{i}.png", b"") for i in range(451)])  # the tests' limit is 450
    assert error(upload(service, {}, [("archive", "a.zip", archive)])) == (413, "archive_too_large")
    assert uploads_now(service) == before


def test_a_zip_bomb_is_refused_from_its_declared_size(service):
    # 20 MiB of zeros compresses to a few KiB; the tests' limit is 16 MiB unpacked
    archive = zip_of([("f0.png", png_bytes()), ("pad.png", bytes(20 * 1024 * 1024))], compression=zipfile.ZIP_DEFLATED)
    assert len(archive) < 100_000
    before = uploads_now(service)
    assert error(upload(service, {}, [("archive", "bomb.zip", archive)])) == (413, "archive_too_large")
    assert uploads_now(service) == before


@pytest.mark.parametrize("name", ["/abs/f0.png", "../f0.png", "a/../../f0.png", "C:/f0.png"])
def test_zip_members_with_escaping_paths_are_refused(service, name):
    archive = zip_of([("ok.png", png_bytes()), (name, png_bytes())])
    status, _, body = upload(service, {}, [("archive", "a.zip", archive)])
    assert (status, body["error"]["code"]) == (400, "bad_archive_member")


def test_zip_members_that_are_links_are_refused(service):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("ok.png", png_bytes())
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    status, _, body = upload(service, {}, [("archive", "a.zip", out.getvalue())])
    assert (status, body["error"]["code"]) == (400, "bad_archive_member")


def test_a_file_that_is_not_a_zip(service):
    assert error(upload(service, {}, [("archive", "a.zip", b"PK not really")])) == (400, "bad_archive")


def test_frames_and_archive_together_are_refused(service):
    archive = zip_of([("f0.png", png_bytes())])
    files = [("frames", "a.png", png_bytes()), ("archive", "a.zip", archive)]
    assert error(upload(service, {}, files)) == (400, "bad_upload")


def test_batch_shape_and_size(service):
    assert error(service.request("POST", "/api/v1/batch", {"nope": []})) == (400, "invalid_option")
    assert error(service.request("POST", "/api/v1/batch", {"jobs": []})) == (400, "invalid_option")
    too_many = {"jobs": [{"source": {"dir": "x"}}] * 1001}
    assert error(service.request("POST", "/api/v1/batch", too_many)) == (413, "batch_too_large")


def test_a_bad_idempotency_key(service):
    status, _, body = service.request(
        "POST", "/api/v1/jobs", {"source": {"dir": "x"}}, headers={"Idempotency-Key": "x" * 201}
    )
    assert (status, body["error"]["code"]) == (400, "invalid_option")


def test_unknown_routes_and_methods_answer_in_json(service):
    assert error(service.request("GET", "/api/v1/nothing")) == (404, "not_found")
    assert error(service.request("PUT", "/api/v1/jobs")) == (405, "method_not_allowed")
