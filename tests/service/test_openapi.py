"""The OpenAPI document is complete enough for a generated client: every route of the
app is in it, each operation has an operationId and a tag, the headers the routes read
and send are declared; and a client generated from it (openapi-python-client, offline)
creates, reads, lists and fetches jobs on the real service."""

from __future__ import annotations

import importlib
import io
import json
import mimetypes
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from img2vid.engine.codecs import CODECS
from img2vid.settings import WebSettings
from img2vid.store.events import TYPES as EVENT_TYPES
from web import create_app
from web.api.openapi import OPEN, UNLIMITED, document
from web.api.schemas import Health, Readiness

from servicetools import TEST_REDIS, input_folder, png_bytes

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = WebSettings.from_env(
        data_dir=tmp_path_factory.mktemp("openapi-app"),
        redis_url=TEST_REDIS,
        key_prefix=f"img2vid-test-{uuid.uuid4().hex[:8]}:",
        rate_limit="",
        rate_limit_create="",
    )
    return create_app(settings)


@pytest.fixture(scope="module")
def doc(app) -> dict:
    resp = app.test_client().get("/api/v1/openapi.json")
    assert resp.status_code == 200
    return resp.get_json()


def operations(d: dict):
    """(path, method, operation) for each operation of the document."""
    for path, item in d["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def op(d: dict, operation_id: str) -> dict:
    return next(o for _, _, o in operations(d) if o["operationId"] == operation_id)


def params(d: dict, operation_id: str) -> dict[tuple[str, str], dict]:
    """The operation's parameters and its path's, by (where, name)."""
    path, method = next((p, m) for p, m, o in operations(d) if o["operationId"] == operation_id)
    both = d["paths"][path].get("parameters", []) + d["paths"][path][method].get("parameters", [])
    return {(p["in"], p["name"]): p for p in both}


# --- the document, from the app ------------------------------------------------------------


def test_every_operation_has_a_unique_operation_id_and_a_declared_tag(doc):
    ids = [o.get("operationId") for _, _, o in operations(doc)]
    assert all(isinstance(i, str) and re.fullmatch(r"[a-z][A-Za-z0-9]*", i) for i in ids), ids
    assert len(ids) == len(set(ids)), ids
    declared = {t["name"] for t in doc["tags"]}
    assert all(t.get("description") for t in doc["tags"])
    for path, method, o in operations(doc):
        assert o.get("tags") and set(o["tags"]) <= declared, (path, method)
        assert o.get("summary"), (path, method)
    # every declared tag is used
    assert declared == {t for _, _, o in operations(doc) for t in o["tags"]}


def test_every_route_of_the_api_and_the_health_checks_is_in_the_document(app, doc):
    # A route added later without its description fails here.
    documented = {(path, method.upper()) for path, method, _ in operations(doc)}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("api", "health"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes and routes <= documented, sorted(routes - documented)
    assert documented <= routes, sorted(documented - routes)  # and nothing that is not there


def test_the_headers_a_client_sends_are_declared(doc):
    key = params(doc, "createJob")[("header", "Idempotency-Key")]
    assert key["schema"]["maxLength"] == 200 and not key["required"]
    for video_or_poster in ("getJobVideo", "getJobPoster"):
        assert {("header", "Range"), ("header", "If-Range"), ("path", "job_id")} <= set(params(doc, video_or_poster))
    for stream in ("getJobEvents", "getEvents"):
        assert ("header", "Last-Event-ID") in params(doc, stream)
    # only createJob reads Idempotency-Key (a batch or a retry does not)
    assert [o["operationId"] for o, _ in _with_param(doc, "Idempotency-Key")] == ["createJob"]


def test_every_header_the_api_views_read_is_declared(doc):
    # A header a view starts to read (request.headers.get("...")) without declaring it fails here.
    web = Path(__file__).parents[2] / "web"
    sources = [web / "actions.py", *sorted((web / "api").glob("*.py"))]
    read = {m for f in sources for m in re.findall(r"request\.headers(?:\.get\(|\[)\"([^\"]+)\"", f.read_text())}
    assert {"Idempotency-Key", "Last-Event-ID"} <= read
    declared = {p["name"] for o, p in _parameters(doc) if p["in"] == "header"}
    assert read <= declared, sorted(read - declared)


def _parameters(d: dict):
    """(operation, parameter) for every parameter of every operation."""
    for _, _, o in operations(d):
        for p in params(d, o["operationId"]).values():
            yield o, p


def _with_param(d: dict, name: str):
    return [(o, p) for o, p in _parameters(d) if p["name"] == name]


def test_the_headers_the_service_sends_are_declared(doc):
    create = op(doc, "createJob")["responses"]
    assert "Location" in create["202"]["headers"]
    # a replay answers with the job the key made, and says so
    assert {"Location", "Idempotent-Replayed"} <= set(create["200"]["headers"])
    assert "Location" in op(doc, "retryJob")["responses"]["202"]["headers"]
    # a batch makes many jobs: no Location, each id is in its answer
    assert "headers" not in op(doc, "createBatch")["responses"]["202"]
    for video_or_poster in ("getJobVideo", "getJobPoster"):
        answers = op(doc, video_or_poster)["responses"]
        assert "Content-Range" in answers["206"]["headers"] and "Content-Range" in answers["416"]["headers"]
        assert "Accept-Ranges" in answers["200"]["headers"] and "Location" in answers["302"]["headers"]
    # every 429 says when to come back
    for path, method, o in operations(doc):
        limited = o["operationId"] not in UNLIMITED
        assert ("429" in o["responses"]) == limited, (path, method)
        if limited:
            assert "Retry-After" in o["responses"]["429"]["headers"], (path, method)


def test_every_answer_has_its_media_type(doc):
    for path, method, o in operations(doc):
        for status, answer in o["responses"].items():
            bodiless = status in ("204", "302", "304")
            assert bodiless != ("content" in answer), (path, method, status)
    video = op(doc, "getJobVideo")["responses"]
    # the container of every codec the service writes
    containers = {mimetypes.guess_type(f"v{c.suffix}")[0] for c in CODECS.values()}
    assert containers == {"video/mp4", "video/webm", "video/x-msvideo", "video/x-matroska"}
    for status in ("200", "206"):
        assert set(video[status]["content"]) == containers
        assert all(m["schema"] == {"type": "string", "format": "binary"} for m in video[status]["content"].values())
    assert set(op(doc, "getJobPoster")["responses"]["200"]["content"]) == {"image/jpeg"}
    for stream in ("getJobEvents", "getEvents"):
        answer = op(doc, stream)["responses"]["200"]
        assert set(answer["content"]) == {"text/event-stream"}
        assert all(t in answer["description"] for t in EVENT_TYPES)
        assert "ErrorResponse" in op(doc, stream)["responses"]["503"]["content"]["application/json"]["schema"]["$ref"]
    # a follower that has seen the outcome is told so, with no stream
    assert "204" in op(doc, "getJobEvents")["responses"]
    assert set(op(doc, "createJob")["requestBody"]["content"]) == {"application/json", "multipart/form-data"}


def test_the_links_lead_to_operations_and_never_to_a_stream(doc):
    ids = {o["operationId"] for _, _, o in operations(doc)}
    for _, _, o in operations(doc):
        for answer in o["responses"].values():
            for link in answer.get("links", {}).values():
                assert link["operationId"] in ids
                assert link["operationId"] not in ("getJobEvents", "getEvents")  # a fuzzer would never return


def test_the_open_service_says_no_token_is_needed():
    d = document(False)
    assert "security" not in d and "bearerAuth" in d["components"]["securitySchemes"]
    assert not any("401" in o["responses"] for _, _, o in operations(d))
    # with no tokens, a change from another site's page is refused (with them, it is a 401 first)
    for _, method, o in operations(d):
        assert ("403" in o["responses"]) == (method in ("post", "delete")), o["operationId"]


def test_a_closed_service_needs_the_bearer_token_but_on_the_open_routes():
    d = document(True)
    assert d["security"] == [{"bearerAuth": []}]
    for _, _, o in operations(d):
        if o["operationId"] in OPEN:
            assert o["security"] == [] and "401" not in o["responses"], o["operationId"]
        else:
            assert "security" not in o and "WWW-Authenticate" in o["responses"]["401"]["headers"], o["operationId"]
        assert "403" not in o["responses"]


def test_the_open_and_unlimited_operations_are_the_views_marked_so(app, doc):
    # web/policy.py's open_to_all (no token) and web/ratelimit.py's unlimited (no 429)
    by_route = {(path, method.upper()): o["operationId"] for path, method, o in operations(doc)}
    marked: dict[str, set] = {"open": set(), "unlimited": set()}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("api", "health"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for mark, ids in marked.items():
            if getattr(app.view_functions[rule.endpoint], f"img2vid_{mark}", False):
                ids |= {by_route[(path, m)] for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert marked == {"open": OPEN, "unlimited": UNLIMITED}


# --- the health checks' answers match their models (which the routes do not use) ----------------


def test_the_health_answers_are_what_the_document_says(service):
    status, _, health = service.request("GET", "/healthz")
    assert status == 200 and Health.model_validate(health)
    status, _, ready = service.request("GET", "/readyz")
    assert status == 200 and Readiness.model_validate(ready).status == "ready"


# --- a client generated from the document, against the real service -----------------------------

# openapi-python-client reads binary answers of application/octet-stream alone: the
# video's and poster's media types are read as that (the document keeps the real ones).
# No post hooks: it would run ruff on the generated code, which takes time and proves nothing.
GENERATOR_CONFIG = """\
post_hooks: []
content_type_overrides:
  video/mp4: application/octet-stream
  video/webm: application/octet-stream
  video/x-msvideo: application/octet-stream
  video/x-matroska: application/octet-stream
  image/jpeg: application/octet-stream
"""
PACKAGE = "img2vid_generated_client"


@pytest.fixture(scope="module")
def generated(service, tmp_path_factory):
    """The package openapi-python-client generates from the service's own document
    (read from the service; the generator reaches nothing else), imported."""
    where = tmp_path_factory.mktemp("generated")
    status, _, raw = service.request("GET", "/api/v1/openapi.json")
    assert status == 200
    (where / "openapi.json").write_text(json.dumps(raw))
    (where / "config.yaml").write_text(GENERATOR_CONFIG)
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "openapi-python-client"),
            "generate",
            "--path",
            str(where / "openapi.json"),
            "--config",
            str(where / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(where / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # Every operation made it into the client: a warning means a part was left out.
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(pkg, name: str):
    return importlib.import_module(f"{pkg.__name__}.{name}")


def test_the_generated_client_has_a_function_for_every_operation(generated, doc):
    for _, _, o in operations(doc):
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", o["operationId"]).lower()
        mod = _module(generated, f"api.{o['tags'][0]}.{snake}")
        assert callable(mod.sync_detailed), o["operationId"]


def test_a_generated_client_creates_reads_lists_and_fetches_jobs(generated, service):
    client = _module(generated, "client").Client(base_url=service.url, timeout=30)
    api = lambda name: _module(generated, f"api.{name}")  # noqa: E731
    models = _module(generated, "models")
    rel = input_folder(service, 3)
    key = f"generated-{uuid.uuid4().hex}"

    # createJob, with an Idempotency-Key: 202 and where the job is
    spec = models.JobSpec(source=models.Source(dir_=rel), codec=models.JobSpecCodec.MJPG)
    made = api("jobs.create_job").sync_detailed(client=client, body=spec, idempotency_key=key)
    assert made.status_code == 202, made.content
    job = made.parsed
    assert isinstance(job, models.Job) and job.spec.source.dir_ == rel
    assert made.headers["Location"] == f"/api/v1/jobs/{job.id}"
    # the same request again: the same job, 200, replayed
    again = api("jobs.create_job").sync_detailed(client=client, body=spec, idempotency_key=key)
    assert (again.status_code, again.parsed.id, again.headers["Idempotent-Replayed"]) == (200, job.id, "true")

    # getJob, until it has succeeded
    service.wait_state(job.id, "succeeded")
    done = api("jobs.get_job").sync(job.id, client=client)
    assert isinstance(done, models.Job) and done.state == models.JobState.SUCCEEDED
    assert done.result.frames == 3 and done.result.video_url == f"/api/v1/jobs/{job.id}/video"

    # listJobs, filtered by state
    listed = api("jobs.list_jobs").sync(client=client, state=models.ListJobsState.SUCCEEDED, limit=500)
    assert isinstance(listed, models.JobList) and job.id in {j.id for j in listed.jobs} and listed.total >= 1

    # getJobVideo with a Range: 206 with that part; getJobPoster: a JPEG
    part = api("jobs.get_job_video").sync_detailed(job.id, client=client, range_="bytes=0-99")
    assert part.status_code == 206 and len(part.parsed.payload.read()) == 100
    assert part.headers["Content-Range"] == f"bytes 0-99/{done.result.bytes_}"
    poster = api("jobs.get_job_poster").sync(job.id, client=client)
    assert poster.payload.read(2) == b"\xff\xd8"

    # getJobEvents of a finished job: one event, its outcome, then the stream ends
    events = api("events.get_job_events").sync_detailed(job.id, client=client)
    assert events.status_code == 200 and "event: succeeded" in events.parsed

    # an error is an ErrorResponse with its code
    missing = api("jobs.get_job").sync_detailed("0" * 24, client=client)
    assert missing.status_code == 404 and missing.parsed.error.code == "job_not_found"


def test_a_generated_client_uploads_and_batches(generated, service):
    client = _module(generated, "client").Client(base_url=service.url, timeout=30)
    api = lambda name: _module(generated, f"api.{name}")  # noqa: E731
    models = _module(generated, "models")
    File = _module(generated, "types").File

    # an upload: multipart/form-data with the spec's fields
    frames = [File(payload=io.BytesIO(png_bytes(i)), file_name=f"f{i}.png", mime_type="image/png") for i in range(2)]
    body = models.CreateJobFilesBody(frames=frames, fps=2.0, codec=models.CreateJobFilesBodyCodec.MJPG)
    made = api("jobs.create_job").sync_detailed(client=client, body=body)
    assert made.status_code == 202, made.content
    assert made.parsed.spec.fps == 2.0 and not made.parsed.spec.source  # an upload's spec names no folder

    # a batch: one queued, one refused, each on its own
    batch = models.BatchRequest(
        jobs=[models.JobSpec(source=models.Source(dir_=input_folder(service, 2))), models.JobSpec(fps=0.001)]
    )
    answer = api("jobs.create_batch").sync_detailed(client=client, body=batch)
    assert answer.status_code == 202 and (answer.parsed.accepted, answer.parsed.rejected) == (1, 1)
    accepted, rejected = answer.parsed.jobs
    assert isinstance(accepted, models.Accepted) and isinstance(rejected, models.Rejected)
    assert rejected.status == 400

    # the meta routes
    assert api("meta.get_health").sync(client=client).status == "ok"
    assert api("meta.get_readiness").sync(client=client).workers >= 1
