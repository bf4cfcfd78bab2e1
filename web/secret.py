"""The key that signs the session cookie."""

from __future__ import annotations

import os
import secrets
import tempfile

from img2vid.settings import WebSettings


def secret_key(settings: WebSettings) -> str:
    """IMG2VID_SECRET_KEY (required in production, which the settings check). In
    development one is made once and kept in DATA_DIR (web's own, whatever the storage),
    so that every gunicorn worker (and a restart) agrees."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / ".secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
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
