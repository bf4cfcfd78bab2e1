"""Settings from the environment: typed, every error at once, old names still read,
secrets from files."""

from __future__ import annotations

import pytest

from img2vid.errors import ConfigError
from img2vid.settings import Settings, WebSettings, WorkerSettings

RENAMED = ("REDIS_URL", "DATA_DIR", "SECRET_KEY", "API_TOKENS")
TOKEN = "alice:" + "a" * 20


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Nothing of the machine's own environment reaches these settings."""
    import os

    for name in list(os.environ):
        if name.startswith("IMG2VID_") or name in RENAMED:
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_need_nothing_set():
    s = WebSettings.from_env()
    assert (s.redis_url, str(s.data_dir), s.key_prefix, s.queue) == (
        "redis://127.0.0.1:6379/0",
        "data",
        "img2vid:",
        "img2vid",
    )
    assert s.api_tokens == () and s.rate_limit == "50 per second" and not s.production


def test_every_wrong_setting_is_named_at_once(clean_env):
    clean_env.setenv("IMG2VID_MAX_FRAMES", "abc")
    clean_env.setenv("IMG2VID_MAX_FRAME_BYTES", "-5")
    clean_env.setenv("IMG2VID_LEASE_SECONDS", "0.1")
    with pytest.raises(ConfigError) as err:
        WorkerSettings.from_env()
    message = err.value.message
    assert "IMG2VID_MAX_FRAMES must be a whole number, got 'abc'" in message
    assert "IMG2VID_MAX_FRAME_BYTES must be at least 1, got '-5'" in message
    assert "IMG2VID_LEASE_SECONDS must be at least 0.5" in message
    assert err.value.code == "bad_setting"


def test_each_process_checks_what_it_reads(clean_env):
    # a worker's time limit is no concern of the web app's, nor a rate limit a worker's
    clean_env.setenv("IMG2VID_TASK_TIME_LIMIT", "soon")
    clean_env.setenv("IMG2VID_RATE_LIMIT", "lots")
    with pytest.raises(ConfigError, match="IMG2VID_TASK_TIME_LIMIT") as err:
        WorkerSettings.from_env()
    assert "RATE_LIMIT" not in err.value.message
    with pytest.raises(ConfigError, match="IMG2VID_RATE_LIMIT must be a rate limit") as err:
        WebSettings.from_env()
    assert "TASK_TIME_LIMIT" not in err.value.message
    Settings.from_env()  # the command line reads neither


def test_an_old_name_still_works_and_says_its_new_one(clean_env):
    clean_env.setenv("REDIS_URL", "redis://elsewhere:6379/2")
    clean_env.setenv("API_TOKENS", TOKEN)
    s = WebSettings.from_env()
    assert s.redis_url == "redis://elsewhere:6379/2" and [t.name for t in s.api_tokens] == ["alice"]
    assert s.renamed_variables() == [
        "REDIS_URL is read as IMG2VID_REDIS_URL, its new name; rename it (the old name will go)",
        "API_TOKENS is read as IMG2VID_API_TOKENS, its new name; rename it (the old name will go)",
    ]
    # and the new name wins when both are set; an empty new one leaves the old one read
    clean_env.setenv("IMG2VID_REDIS_URL", "redis://here:6379/0")
    clean_env.setenv("IMG2VID_API_TOKENS", "")
    s = WebSettings.from_env()
    assert s.redis_url == "redis://here:6379/0" and [t.name for t in s.api_tokens] == ["alice"]


def test_a_secret_can_come_from_a_file(clean_env, tmp_path):
    (tmp_path / "tokens").write_text(TOKEN + "\n")
    clean_env.setenv("IMG2VID_API_TOKENS_FILE", str(tmp_path / "tokens"))
    assert [t.name for t in WebSettings.from_env().api_tokens] == ["alice"]
    # but not both ways at once, and not from a file that is not there
    clean_env.setenv("IMG2VID_API_TOKENS", TOKEN)
    with pytest.raises(ConfigError, match="set IMG2VID_API_TOKENS or IMG2VID_API_TOKENS_FILE, not both"):
        WebSettings.from_env()
    clean_env.delenv("IMG2VID_API_TOKENS")
    clean_env.setenv("IMG2VID_API_TOKENS_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="IMG2VID_API_TOKENS_FILE: cannot read"):
        WebSettings.from_env()


def test_empty_turns_a_rate_limit_off_and_leaves_others_at_their_default(clean_env):
    clean_env.setenv("IMG2VID_RATE_LIMIT", "")
    clean_env.setenv("IMG2VID_RATE_LIMIT_CREATE", "off")
    clean_env.setenv("IMG2VID_MAX_FRAMES", "")
    s = WebSettings.from_env()
    assert (s.rate_limit, s.rate_limit_create, s.max_frames) == ("", "", 10_000)


def test_production_needs_a_session_key(clean_env):
    clean_env.setenv("IMG2VID_ENV", "production")
    with pytest.raises(ConfigError, match="IMG2VID_SECRET_KEY must be set when IMG2VID_ENV=production"):
        WebSettings.from_env()
    clean_env.setenv("SECRET_KEY", "k" * 32)
    assert WebSettings.from_env().production


def test_tokens_never_show_in_a_repr(clean_env):
    clean_env.setenv("IMG2VID_API_TOKENS", TOKEN)
    assert "a" * 20 not in repr(WebSettings.from_env())
