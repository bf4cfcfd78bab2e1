"""Jobs belong to the token that made them: with API_TOKENS set, another token's job is
a 404 everywhere, keys are per token, and an admin token sees and manages all."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from browsertools import shot
from hostiletools import ALICE, BOB, ROOT
from servicetools import input_folder


@pytest.fixture(scope="module")
def alices(hostile) -> dict:
    """A finished job of alice's, and the folder it was made from."""
    alice = hostile.guarded.as_(ALICE)
    rel = input_folder(hostile.open, 3)
    done = alice.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "codec": "h264", "name": "alices"})[2]
    done = alice.wait_state(done["id"], "succeeded")
    return {"done": done, "rel": rel}


def test_a_job_names_its_owner(hostile, alices):
    assert alices["done"]["owner"] == "alice"
    rel = input_folder(hostile.open, 2)
    job = hostile.open.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})[2]
    assert job["owner"] is None  # open: one user, no owner


def test_another_token_gets_404_for_it_everywhere(hostile, alices):
    bob, job_id = hostile.guarded.as_(BOB), alices["done"]["id"]
    for method, path in (
        ("GET", f"/api/v1/jobs/{job_id}"),
        ("GET", f"/api/v1/jobs/{job_id}/video"),
        ("GET", f"/api/v1/jobs/{job_id}/poster.jpg"),
        ("POST", f"/api/v1/jobs/{job_id}/cancel"),
        ("POST", f"/api/v1/jobs/{job_id}/retry"),
        ("DELETE", f"/api/v1/jobs/{job_id}"),
    ):
        status, _, body = bob.request(method, path)
        assert (status, body["error"]["code"]) == (404, "job_not_found"), (method, path, body)
    # and no listing of his shows it, or counts it
    for query in ("", "?state=succeeded", "?limit=500"):
        _, _, listing = bob.request("GET", f"/api/v1/jobs{query}")
        assert job_id not in [j["id"] for j in listing["jobs"]] and all(j["owner"] == "bob" for j in listing["jobs"])
    # while alice still has it, whole
    alice = hostile.guarded.as_(ALICE)
    assert alice.get_job(job_id)["state"] == "succeeded"
    assert alice.request("GET", f"/api/v1/jobs/{job_id}/video")[0] == 200
    _, _, listing = alice.request("GET", "/api/v1/jobs?state=succeeded&limit=500")
    assert job_id in [j["id"] for j in listing["jobs"]] and listing["total"] >= 1


def test_keys_are_per_token(hostile, alices):
    key = {"Idempotency-Key": f"shared-{uuid.uuid4().hex}"}
    spec = {"source": {"dir": alices["rel"]}, "codec": "mjpg"}
    a = hostile.guarded.as_(ALICE).request("POST", "/api/v1/jobs", spec, headers=key)
    b = hostile.guarded.as_(BOB).request("POST", "/api/v1/jobs", spec, headers=key)
    # then the same key from two tokens is two jobs, each its own token's
    assert (a[0], b[0]) == (202, 202) and a[2]["id"] != b[2]["id"]
    assert (a[2]["owner"], b[2]["owner"]) == ("alice", "bob")
    again = hostile.guarded.as_(ALICE).request("POST", "/api/v1/jobs", spec, headers=key)
    assert again[0] == 200 and again[2]["id"] == a[2]["id"]


def test_an_admin_sees_and_manages_every_job(hostile, alices):
    root, job_id = hostile.guarded.as_(ROOT), alices["done"]["id"]
    # then root reads alice's job, its files, and sees it listed with its owner
    assert root.get_job(job_id)["owner"] == "alice"
    assert root.request("GET", f"/api/v1/jobs/{job_id}/poster.jpg")[0] == 200
    _, _, listing = root.request("GET", "/api/v1/jobs?limit=500")
    owners = {j["owner"] for j in listing["jobs"]}
    assert {"alice", "bob"} <= owners
    # and retries it (the new job is root's, who made it), then deletes alice's
    status, _, retried = root.request("POST", f"/api/v1/jobs/{job_id}/retry")
    assert status == 202 and retried["owner"] == "root"
    rel = input_folder(hostile.open, 2)
    other = hostile.guarded.as_(ALICE).request("POST", "/api/v1/jobs", {"source": {"dir": rel}})[2]
    hostile.guarded.as_(ALICE).wait_state(other["id"], "succeeded", "failed")
    assert root.request("DELETE", f"/api/v1/jobs/{other['id']}")[0] == 204
    assert hostile.guarded.as_(ALICE).request("GET", f"/api/v1/jobs/{other['id']}")[0] == 404


def test_the_jobs_page_shows_an_admin_whose_job_it_is_and_a_user_only_theirs(hostile, browser, alices):
    for token, name in ((ROOT, "root"), (BOB, "bob")):
        context = browser.new_context(base_url=hostile.guarded.url, viewport={"width": 1100, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            page.goto("/signin")
            page.get_by_label("Access token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            page.goto("/jobs")
            expect(page.locator("#jobs li").first).to_be_visible()
            alices_row = page.locator(f'#jobs li:has(a[href="/jobs/{alices["done"]["id"]}"])')
            if name == "root":
                # an admin: every job, each saying whose it is
                expect(alices_row.locator(".owner")).to_have_text(re.compile(r"by alice$"))
                shot(page, "jobs-admin-owners")
            else:
                # a user: only their own, and no owner shown
                expect(alices_row).to_have_count(0)
                expect(page.locator("#jobs .owner")).to_have_count(0)
                # and alice's job page is not found for them
                response = page.goto(f"/jobs/{alices['done']['id']}")
                assert response.status == 404
                expect(page.get_by_role("heading", name="No such job")).to_be_visible()
        finally:
            context.close()
