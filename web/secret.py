"""The key that signs the session cookie."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from img2vid.errors import ConfigError
from img2vid.settings import Settings


def secret_key(settings: Settings) -> str:
    """SECRET_KEY; in production it must be set. In development one is made once and
    kept in DATA_DIR/.secret_key, so that every gunicorn worker (and a restart) agrees."""
    if settings.secret_key:
        return settings.secret_key
    if settings.production:
        raise ConfigError("SECRET_KEY must be set when IMG2VID_ENV=production")
    path = Path(settings.data_dir) / ".secret_key"
    if not path.exists():
        # Written whole, then linked into place: workers starting together never read
        # a half-written key, and the first one to link wins.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()
