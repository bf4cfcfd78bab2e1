"""Webhooks through the real system: gunicorn, two celery workers, Redis, and a real
HTTP receiver in this process (127.0.0.1, so the service here allows private
addresses; a second web process that does not shows the SSRF refusal at submit)."""

from __future__ import annotations

import base64
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import redis
from standardwebhooks import Webhook, WebhookVerificationError

from img2vid.job import Job, JobSpec
from img2vid.store import JobStore, new_job_id
from img2vid.store.testing import keys_holding
from img2vid.testing import Proc, Stack, free_port, wait_until

from servicetools import TEST_REDIS, Service, forget_keys, input_folder
from webhooktools import Answer, Receiver

SECRET = "whsec_" + base64.b64encode(b"img2vid tests sign with these 32").decode()


# --- the system ---------------------------------------------------------------------------


@dataclass
class Hooks:
    service: Service  # allows private receivers (this test's is on 127.0.0.1)
    strict: Service  # the same system through a web process that does not
    off: Service  # and through one with no webhook secret
    receiver: Receiver
    workers: list[Proc]
    store: JobStore


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    data = tmp_path_factory.mktemp("hooks-volume")
    (data / "inputs").mkdir()
    prefix = f"img2vid-test-{uuid.uuid4().hex[:8]}:"
    queue = f"q-{prefix}"
    env = {
        "IMG2VID_REDIS_URL": TEST_REDIS,
        "IMG2VID_DATA_DIR": str(data),
        "IMG2VID_KEY_PREFIX": prefix,
        "IMG2VID_QUEUE": queue,
        "IMG2VID_RATE_LIMIT": "off",
        "IMG2VID_RATE_LIMIT_CREATE": "off",
        "IMG2VID_WEBHOOK_SECRET": SECRET,
        "IMG2VID_WEBHOOK_ALLOW_PRIVATE": "1",
        # Retries within a fraction of a second, a claim that ends in 2 s, and a sweep
        # (one worker's housekeeping) four times a second.
        "IMG2VID_WEBHOOK_RETRY_SECONDS": "0.3,0.3,0.3,0.5",
        "IMG2VID_WEBHOOK_CLAIM_SECONDS": "2",
        "IMG2VID_HEARTBEAT_SECONDS": "0.25",
    }
    stack = Stack(data_dir=data, log_dir=Path("test-artifacts/logs"), env=env)
    client = redis.Redis.from_url(TEST_REDIS)
    receiver = Receiver()
    try:
        # Plain workers: each consumes the jobs' queue and the webhook deliveries'.
        workers = [stack.start_worker(f"hooks-worker{i}") for i in (1, 2)]
        _, url = stack.start_web()
        _, strict = stack.start_web(workers=1, env={"IMG2VID_WEBHOOK_ALLOW_PRIVATE": "0"}, name="hooks-web-strict")
        _, off = stack.start_web(workers=1, env={"IMG2VID_WEBHOOK_SECRET": ""}, name="hooks-web-off")
        stack.wait_workers(url, 2)
        yield Hooks(
            Service(url, data, stack, client, prefix),
            Service(strict, data, stack, client, prefix),
            Service(off, data, stack, client, prefix),
            receiver,
            workers,
            JobStore.from_url(TEST_REDIS, prefix),
        )
    finally:
        receiver.close()
        stack.stop()
        forget_keys(client, prefix)


def submit(service: Service, webhook_url: str, frames: int = 2, **spec) -> str:
    status, _, job = service.request(
        "POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, frames)}, "webhook_url": webhook_url, **spec}
    )
    assert status == 202, job
    return job["id"]


def settled(hooks: Hooks, job_id: str, timeout: float = 20) -> dict:
    """The job once its webhook is delivered or given up."""

    def done():
        job = hooks.service.get_job(job_id)
        hook = job["webhook"]
        return (hook["delivered_at"] or hook["gave_up_at"]) and job

    return wait_until(done, timeout, f"job {job_id}'s webhook to be delivered or given up")


def path() -> str:
    return f"/hook/{uuid.uuid4().hex[:8]}"


# --- delivered, signed ---------------------------------------------------------------------


def test_a_succeeded_job_is_posted_signed_as_its_json(hooks):
    # given a job that names a webhook
    where = path()
    job_id = submit(hooks.service, hooks.receiver.url(where))
    # when it succeeds
    job = settled(hooks, job_id)
    # then the receiver got one POST whose signature verifies with the secret
    [got] = hooks.receiver.to(where)
    assert got.method == "POST" and got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("img2vid/")
    payload = Webhook(SECRET).verify(got.body, got.headers)
    assert got.headers["webhook-id"] == f"{job_id}.succeeded"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    # and the body is the job as GET shows it (its webhook as it stood before this attempt)
    assert payload["state"] == "succeeded" and payload["result"]["frames"] == 2
    assert {k: v for k, v in payload.items() if k != "webhook"} == {k: v for k, v in job.items() if k != "webhook"}
    assert payload["webhook"]["attempts"] == 0 and payload["webhook"]["url"] == hooks.receiver.url(where)
    # and the delivery is recorded on the job
    hook = job["webhook"]
    assert hook["attempts"] == 1 and hook["last_status"] == 200 and hook["delivered_at"] and not hook["gave_up_at"]
    # and a body that was tampered with does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(got.body.replace(b"succeeded", b"failed"), got.headers)


def test_a_failed_and_a_cancelled_job_are_posted_too(hooks):
    service = hooks.service
    # given a job whose frames cannot be read, and a queued job no worker has taken yet
    bad = input_folder(service, 2, ext=".jpg")
    (service.inputs / bad / "frame_1.jpg").write_bytes(b"broken")
    failing, cancelled = path(), path()
    status, _, job = service.request(
        "POST", "/api/v1/jobs", {"source": {"dir": bad}, "webhook_url": hooks.receiver.url(failing)}
    )
    assert status == 202, job
    spec = JobSpec.parse(
        {"source": {"dir": input_folder(service, 2)}, "webhook_url": hooks.receiver.url(cancelled)},
        upload=False,
        max_pixels=None,
    )
    queued = Job(id=new_job_id(), state="queued", spec=spec, created_at=time.time(), frames_total=2)
    hooks.store.create_many([queued])  # stored, its message never sent: it stays queued
    # when the first fails and the second is cancelled through the API
    status, _, answer = service.request("POST", f"/api/v1/jobs/{queued.id}/cancel")
    assert status == 202 and answer["state"] == "cancelled", answer
    # then each one's webhook says so
    for job_id, where, state in ((job["id"], failing, "failed"), (queued.id, cancelled, "cancelled")):
        assert settled(hooks, job_id)["webhook"]["last_status"] == 200
        [got] = hooks.receiver.to(where)
        payload = Webhook(SECRET).verify(got.body, got.headers)
        assert payload["state"] == state and got.headers["webhook-id"] == f"{job_id}.{state}"
    assert payload["error"]["code"] == "cancelled"


def test_a_batch_default_webhook_is_each_jobs_that_names_none(hooks):
    # given a batch with a default webhook, one job naming its own
    default, own = path(), path()
    rel = input_folder(hooks.service, 2)
    body = {
        "jobs": [{"source": {"dir": rel}}, {"source": {"dir": rel}, "webhook_url": hooks.receiver.url(own)}],
        "webhook_url": hooks.receiver.url(default),
    }
    # when it is submitted
    status, _, answer = hooks.service.request("POST", "/api/v1/batch", body)
    assert status == 202 and answer["accepted"] == 2, answer
    first, second = (item["id"] for item in answer["jobs"])
    # then the first took the default, the second kept its own, and both are delivered there
    assert settled(hooks, first)["spec"]["webhook_url"] == hooks.receiver.url(default)
    assert settled(hooks, second)["spec"]["webhook_url"] == hooks.receiver.url(own)
    assert len(hooks.receiver.to(default)) == 1 and len(hooks.receiver.to(own)) == 1


# --- retried, or not --------------------------------------------------------------------------


def test_a_receiver_that_is_down_gets_it_once_it_is_up(hooks):
    # given a webhook to a port where nothing listens yet
    port = free_port()
    job_id = submit(hooks.service, f"http://127.0.0.1:{port}/late")
    # when a few attempts have failed to connect
    hook = wait_until(
        lambda: (h := hooks.service.get_job(job_id)["webhook"])["attempts"] >= 2 and h, 20, "two failed attempts"
    )
    assert hook["last_status"] == "connection_error" and not hook["delivered_at"]
    # and the receiver comes up
    late = Receiver(port)
    try:
        job = settled(hooks, job_id)
        # then the delivery reaches it, once, after those attempts
        assert job["webhook"]["last_status"] == 200 and job["webhook"]["attempts"] > 2
        [got] = late.to("/late")
        Webhook(SECRET).verify(got.body, got.headers)
    finally:
        late.close()


def test_three_500s_then_a_200_are_four_attempts(hooks):
    # given a receiver that fails three times before it takes the delivery
    where = path()
    url = hooks.receiver.script(where, Answer(500), Answer(500), Answer(500))
    # when a job finishes
    job = settled(hooks, submit(hooks.service, url))
    # then four attempts were made and recorded, the same delivery each time
    hook = job["webhook"]
    assert (hook["attempts"], hook["last_status"]) == (4, 200) and hook["delivered_at"]
    got = hooks.receiver.to(where)
    assert len(got) == 4 and len({r.headers["webhook-id"] for r in got}) == 1
    for r in got:
        Webhook(SECRET).verify(r.body, r.headers)


def test_a_410_stops_at_the_first_attempt(hooks):
    where = path()
    job = settled(hooks, submit(hooks.service, hooks.receiver.script(where, Answer(410))))
    hook = job["webhook"]
    assert (hook["attempts"], hook["last_status"]) == (1, 410) and hook["gave_up_at"] and not hook["delivered_at"]
    assert "410" in hook["last_error"]
    # and nothing is left due for it: no attempt can follow
    assert not [k for k in keys_holding(hooks.store, job["id"]) if k.endswith("webhooks-due")]
    assert len(hooks.receiver.to(where)) == 1


def test_retry_after_is_honoured(hooks):
    # given a receiver that asks for a second's pause (the schedule's own is 0.3 s)
    where = path()
    url = hooks.receiver.script(where, Answer(429, {"Retry-After": "1"}))
    job = settled(hooks, submit(hooks.service, url))
    # then the second attempt came no sooner than that
    first, second = hooks.receiver.to(where)
    assert second.at - first.at >= 0.95
    assert (job["webhook"]["attempts"], job["webhook"]["last_status"]) == (2, 200)


def test_a_redirect_is_not_followed(hooks):
    where, target = path(), path()
    url = hooks.receiver.script(where, Answer(302, {"Location": hooks.receiver.url(target)}))
    job = settled(hooks, submit(hooks.service, url))
    hook = job["webhook"]
    assert (hook["attempts"], hook["last_status"]) == (1, 302) and hook["gave_up_at"]
    assert hooks.receiver.to(target) == []


def test_a_deleted_job_leaves_no_delivery_due(hooks):
    # given a finished job whose receiver cannot be reached, its delivery still retried
    job_id = submit(hooks.service, f"http://127.0.0.1:{free_port()}/never")
    wait_until(lambda: hooks.service.get_job(job_id)["webhook"]["attempts"] >= 1, 20, "a failed attempt")
    # when the job is deleted
    status, _, _ = hooks.service.request("DELETE", f"/api/v1/jobs/{job_id}")
    assert status == 204
    # then no key names it any more: no delivery is due for a job that is gone
    assert keys_holding(hooks.store, job_id) == []


# --- refused at submit --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://127.0.0.1:1/", "http://[::1]/", "http://169.254.169.254/latest/meta-data/"]
)
def test_a_private_address_is_refused_at_submit(hooks, url):
    status, _, answer = hooks.strict.request(
        "POST", "/api/v1/jobs", {"source": {"dir": input_folder(hooks.strict, 1)}, "webhook_url": url}
    )
    assert status == 400 and answer["error"]["code"] == "bad_webhook_url", answer
    assert "meta-data" not in answer["error"]["message"]
    # and as a batch's default, for the whole batch
    status, _, answer = hooks.strict.request(
        "POST", "/api/v1/batch", {"jobs": [{"source": {"dir": "x"}}], "webhook_url": url}
    )
    assert status == 400 and answer["error"]["code"] == "bad_webhook_url", answer


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "http://user:pw@example.com/"])
def test_a_url_that_is_not_plain_http_is_refused_wherever_private_ones_are_allowed(hooks, url):
    status, _, answer = hooks.service.request(
        "POST", "/api/v1/jobs", {"source": {"dir": input_folder(hooks.service, 1)}, "webhook_url": url}
    )
    assert status == 400 and answer["error"]["code"] == "bad_webhook_url", answer


def test_a_server_without_a_secret_refuses_webhooks_and_runs_other_jobs(hooks):
    rel = input_folder(hooks.off, 1)
    status, _, answer = hooks.off.request(
        "POST", "/api/v1/jobs", {"source": {"dir": rel}, "webhook_url": hooks.receiver.url(path())}
    )
    assert status == 400 and answer["error"]["code"] == "webhooks_disabled", answer
    status, _, job = hooks.off.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
    assert status == 202 and job["webhook"] is None


# --- at least once -----------------------------------------------------------------------


def _holder(workers: list[Proc], port: int) -> Proc:
    """The worker whose process holds the TCP connection from ``port``."""
    for proc in workers:
        root = psutil.Process(proc.popen.pid)
        for p in [root, *root.children(recursive=True)]:
            if any(c.laddr and c.laddr.port == port for c in p.net_connections(kind="tcp")):
                return proc
    raise AssertionError(f"no worker holds the connection from port {port}")


def test_a_worker_killed_mid_delivery_leaves_it_to_another(hooks):
    # given a receiver that holds the first delivery open
    where, release = path(), threading.Event()
    url = hooks.receiver.script(where, Answer(200, hold=release))
    job_id = submit(hooks.service, url)
    [held] = wait_until(lambda: hooks.receiver.to(where), 20, "the delivery to reach the receiver")
    # when the worker making it is killed outright
    victim = _holder(hooks.workers, held.client_port)
    victim.stop(signal.SIGKILL)
    try:
        # then another worker makes the delivery again once the claim has ended
        job = settled(hooks, job_id)
        first, again = hooks.receiver.to(where)
        assert first.headers["webhook-id"] == again.headers["webhook-id"] == f"{job_id}.succeeded"
        Webhook(SECRET).verify(again.body, again.headers)
        assert job["webhook"]["last_status"] == 200 and job["webhook"]["delivered_at"]
    finally:
        release.set()
        hooks.workers[hooks.workers.index(victim)] = hooks.service.stack.restart(victim)
