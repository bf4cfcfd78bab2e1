"""How full the data volume is: in /readyz, and on the jobs page (a warning when nearly full)."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from img2vid.testing import Stack

from browsertools import shot

GB = 1000**3


def test_readyz_shows_the_data_volumes_disk_usage(service):
    # when /readyz is asked
    status, _, body = service.request("GET", "/readyz")
    # then besides what it said before, it says how full the data volume is
    assert status == 200 and body["status"] == "ready" and body["redis"] is True and body["workers"] >= 1
    disk = body["disk"]
    # and the numbers are the file system's own (others may write meanwhile: within 1 GB)
    real = shutil.disk_usage(service.data)
    assert disk["total_bytes"] == real.total
    assert disk["free_bytes"] == pytest.approx(real.free, abs=GB)
    assert disk["used_bytes"] == pytest.approx(real.used, abs=GB)
    assert disk["used_percent"] == pytest.approx(100 * real.used / (real.used + real.free), abs=1)
    assert disk["low"] is (disk["used_percent"] >= 90)


def test_the_jobs_page_shows_the_disk_line(page, service):
    # when the jobs page is opened
    page.goto("/jobs")
    # then one short line says how much room is left, and how long finished jobs stay
    line = page.locator("#disk")
    expect(line).to_contain_text("Disk:")
    expect(line).to_contain_text(" free of ")
    expect(line).to_contain_text("% used")
    expect(line).to_contain_text("finished jobs are removed after 7 days")
    shot(page, "jobs-disk")


def test_a_nearly_full_disk_is_said_plainly(browser, service):
    # given a web app that counts the disk as nearly full from 0 % used on
    stack = Stack(
        data_dir=service.data,
        log_dir=Path("test-artifacts/logs/disk"),
        env={**service.stack.env, "IMG2VID_DISK_LOW_PERCENT": "0"},
    )
    try:
        _, url = stack.start_web(workers=1)
        context = browser.new_context(base_url=url, viewport={"width": 1100, "height": 700})
        pg = context.new_page()
        # when the jobs page is opened
        pg.goto("/jobs")
        # then the line is a warning that a screen reader announces, saying what to do
        warning = pg.get_by_role("alert")
        expect(warning).to_contain_text("Disk nearly full:")
        expect(warning).to_contain_text("delete finished jobs")
        assert pg.locator("#disk.low").count() == 1
        shot(pg, "jobs-disk-low")
        context.close()
        # and /readyz says so too, while still ready
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as r:
            assert json.load(r)["disk"]["low"] is True
    finally:
        stack.stop()
