"""Webhooks' rules without a service: what a webhook_url may be and where it may lead
(SSRF), when a failed delivery is tried again, and the secret's setting."""

from __future__ import annotations

import base64
import ipaddress
import os
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from img2vid.errors import BadWebhookUrlError, ConfigError, WebhookHostUnresolvedError, WebhooksDisabledError
from img2vid.job import JobSpec
from img2vid.settings import WorkerSettings
from img2vid.webhook_url import WebhookPolicy, check_url, destinations, refused
from worker.webhook_retry import backoff, plan, retry_after, verdict

SCHEDULE = (2.0, 10.0, 30.0)
ENABLED = WebhookPolicy(enabled=True)


# --- the URL's form ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
        "example.com/hook",
        "http://user:pw@example.com/",
        "http://@example.com/",
        "http:///hook",
        "http://example.com:0/",
        "http://example.com:99999/",
        "http://exa mple.com/",
        "http://example.com/\u00e4",
        "http://example.com/" + "a" * 2048,
        5,
    ],
)
def test_a_url_not_of_the_form_is_refused_with_its_code(url):
    with pytest.raises(BadWebhookUrlError) as err:
        check_url(url)
    assert err.value.code == "bad_webhook_url"
    # the message never repeats the URL (its path or query may hold a token)
    assert "/hook" not in err.value.message and "passwd" not in err.value.message


def test_http_and_https_urls_with_a_host_pass_as_given():
    for url in ("http://example.com/hook?token=abc", "HTTPS://Example.com:8443/x", "http://[2001:db8::1]/"):
        assert check_url(url) == url


# --- where it leads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",  # shared address space (CGNAT)
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "ff02::1",
    ],
)
def test_local_private_and_special_addresses_are_refused(address):
    assert refused(ipaddress.ip_address(address), allow_private=False)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "2606:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert not refused(ipaddress.ip_address(address), allow_private=False)


def test_allow_private_lets_local_receivers_in_but_never_multicast_or_unspecified():
    for address in ("127.0.0.1", "10.0.0.1", "::1", "169.254.169.254"):
        assert not refused(ipaddress.ip_address(address), allow_private=True)
    for address in ("224.0.0.1", "0.0.0.0", "::"):
        assert refused(ipaddress.ip_address(address), allow_private=True)


@pytest.mark.parametrize(
    "url, host",
    [
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://127.0.0.1:1/", "127.0.0.1"),
        ("http://[::1]/", "::1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://localhost:8000/", "localhost"),
    ],
)
def test_a_host_that_resolves_to_a_refused_address_is_refused_naming_the_host_alone(url, host):
    with pytest.raises(BadWebhookUrlError) as err:
        destinations(url, allow_private=False)
    assert f"host '{host}'" in err.value.message and "IMG2VID_WEBHOOK_ALLOW_PRIVATE" in err.value.message
    # neither the path nor an address the name resolved to (the client would learn the server's DNS)
    assert "meta-data" not in err.value.message and (host != "localhost" or "127.0.0.1" not in err.value.message)


def test_numeric_forms_of_a_loopback_address_are_refused_as_the_system_resolves_them():
    for url in ("http://0x7f000001/", "http://2130706433/", "http://127.1/"):
        with pytest.raises(BadWebhookUrlError):
            destinations(url, allow_private=False)


def test_a_host_that_does_not_resolve_is_refused_clearly():
    with pytest.raises(WebhookHostUnresolvedError, match="nosuch.invalid' does not resolve"):
        destinations("http://nosuch.invalid/hook", allow_private=False)


# --- at the edge: JobSpec.parse with the server's policy --------------------------------


def _parse(url, policy):
    return JobSpec.parse({"source": {"dir": "d"}, "webhook_url": url}, upload=False, max_pixels=None, webhooks=policy)


def test_the_spec_refuses_a_private_url_at_submit_and_takes_one_when_allowed():
    with pytest.raises(BadWebhookUrlError):
        _parse("http://127.0.0.1:9/hook", ENABLED)
    allowed = WebhookPolicy(enabled=True, allow_private=True)
    assert _parse("http://127.0.0.1:9/hook", allowed).webhook_url == "http://127.0.0.1:9/hook"


def test_a_server_without_a_secret_refuses_any_webhook_url():
    with pytest.raises(WebhooksDisabledError) as err:
        _parse("http://8.8.8.8/hook", WebhookPolicy(enabled=False))
    assert err.value.code == "webhooks_disabled" and "IMG2VID_WEBHOOK_SECRET" in err.value.message


def test_a_client_checks_the_form_only_and_an_empty_field_is_no_webhook():
    # no policy: the command line's own check, no lookup (the server decides)
    assert _parse("http://10.0.0.1/hook", None).webhook_url == "http://10.0.0.1/hook"
    with pytest.raises(BadWebhookUrlError):
        _parse("ftp://example.com/", None)
    assert _parse("", ENABLED).webhook_url is None


# --- after an attempt -------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, outcome",
    [
        (200, "delivered"),
        (204, "delivered"),
        (500, "retry"),
        (503, "retry"),
        (408, "retry"),
        (429, "retry"),
        ("timeout", "retry"),
        ("connection_error", "retry"),
        (400, "give_up"),
        (404, "give_up"),
        (410, "give_up"),
        (301, "give_up"),
        (302, "give_up"),
        ("refused", "give_up"),
    ],
)
def test_each_status_is_delivered_retried_or_given_up(status, outcome):
    assert verdict(status) == outcome


def test_the_backoff_follows_the_schedule_its_last_step_repeating_within_20_percent():
    assert [backoff(SCHEDULE, n, rand=lambda: 0.5) for n in (1, 2, 3, 4, 9)] == [2.0, 10.0, 30.0, 30.0, 30.0]
    assert backoff(SCHEDULE, 1, rand=lambda: 0.0) == pytest.approx(1.6)
    assert backoff(SCHEDULE, 2, rand=lambda: 1.0) == pytest.approx(12.0)
    # and real jitter spreads the retries of receivers that failed together
    delays = {round(backoff(SCHEDULE, 1), 6) for _ in range(50)}
    assert len(delays) > 10 and all(1.6 <= d <= 2.4 for d in delays)


def test_retry_after_in_seconds_or_as_a_date_capped_at_an_hour():
    now = 1_000_000.0
    assert retry_after("7", now) == 7.0
    assert retry_after(" 0 ", now) == 0.0
    assert retry_after("86400", now) == 3600.0
    when = format_datetime(datetime.fromtimestamp(now + 90, UTC), usegmt=True)
    assert retry_after(when, now) == pytest.approx(90.0)
    past = format_datetime(datetime.fromtimestamp(now - 90, UTC), usegmt=True)
    assert retry_after(past, now) == 0.0
    for unreadable in (None, "", "soon", "-5", "1.5e9"):
        assert retry_after(unreadable, now) is None


def test_a_retry_is_never_sooner_than_retry_after_nor_later_than_the_give_up():
    now = 1000.0
    kw = {"schedule": SCHEDULE, "now": now, "give_up_at": now + 3600, "rand": lambda: 0.5}
    assert plan(503, 1, **kw) == ("retry", 2.0)
    assert plan(429, 1, retry_after_header="20", **kw) == ("retry", 20.0)
    assert plan(503, 3, retry_after_header="1", **kw) == ("retry", 30.0)  # the backoff is longer
    assert plan(200, 5, **kw) == ("delivered", 0.0)
    assert plan(410, 1, **kw) == ("give_up", 0.0)
    # when the next retry would fall after the give-up time, the delivery stops
    assert plan("timeout", 2, **{**kw, "give_up_at": now + 5}) == ("give_up", 0.0)


# --- the settings -------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("IMG2VID_"):
            monkeypatch.delenv(name)
    return monkeypatch


def _secret(n: int) -> str:
    return "whsec_" + base64.b64encode(os.urandom(n)).decode()


def test_a_well_formed_secret_turns_webhooks_on(env, tmp_path):
    assert not WorkerSettings.from_env().webhook_policy.enabled
    secret = _secret(32)
    env.setenv("IMG2VID_WEBHOOK_SECRET", secret)
    s = WorkerSettings.from_env()
    assert s.webhook_secret == secret and s.webhook_policy.enabled and secret not in repr(s)
    # and from a file, as a container's secret is handed over
    env.delenv("IMG2VID_WEBHOOK_SECRET")
    (tmp_path / "hook").write_text(secret + "\n")
    env.setenv("IMG2VID_WEBHOOK_SECRET_FILE", str(tmp_path / "hook"))
    assert WorkerSettings.from_env().webhook_secret == secret


@pytest.mark.parametrize(
    "wrong", [base64.b64encode(os.urandom(32)).decode(), "whsec_not base64!", _secret(8), _secret(100), "whsec_"]
)
def test_a_malformed_secret_stops_the_process_naming_the_variable_not_the_value(env, wrong):
    env.setenv("IMG2VID_WEBHOOK_SECRET", wrong)
    with pytest.raises(ConfigError) as err:
        WorkerSettings.from_env()
    assert "IMG2VID_WEBHOOK_SECRET must be whsec_" in err.value.message
    if wrong != "whsec_":
        assert wrong.removeprefix("whsec_") not in err.value.message


def test_the_schedule_queue_and_private_setting_are_read(env):
    s = WorkerSettings.from_env()
    assert s.webhook_retry_seconds == (2, 10, 30, 120, 600, 1800, 3600) and s.webhook_give_up_seconds == 86_400
    assert s.webhook_queue_name == "img2vid.webhooks" and not s.webhook_allow_private
    env.setenv("IMG2VID_WEBHOOK_RETRY_SECONDS", "0.3, 0.5")
    env.setenv("IMG2VID_WEBHOOK_ALLOW_PRIVATE", "1")
    env.setenv("IMG2VID_QUEUE", "jobs")
    s = WorkerSettings.from_env()
    assert s.webhook_retry_seconds == (0.3, 0.5) and s.webhook_allow_private and s.webhook_queue_name == "jobs.webhooks"
    for wrong in ("0", "1,x", "-1", "inf", ","):
        env.setenv("IMG2VID_WEBHOOK_RETRY_SECONDS", wrong)
        with pytest.raises(ConfigError, match="IMG2VID_WEBHOOK_RETRY_SECONDS"):
            WorkerSettings.from_env()
    env.setenv("IMG2VID_WEBHOOK_RETRY_SECONDS", "1")
    env.setenv("IMG2VID_WEBHOOK_QUEUE", "img2vid:hooks")
    with pytest.raises(ConfigError, match="IMG2VID_WEBHOOK_QUEUE"):
        WorkerSettings.from_env()


def test_a_plain_worker_consumes_the_jobs_queue_and_the_webhooks(env):
    # Celery consumes every queue in task_queues unless -Q names some (celery worker --help)
    from worker.runtime import make_worker_celery

    env.setenv("IMG2VID_QUEUE", "jobs")
    app = make_worker_celery(WorkerSettings.from_env())
    assert set(app.amqp.queues) == {"jobs", "jobs.webhooks"}
    assert app.conf.task_default_queue == "jobs"
