"""What the hostile tests share besides their fixtures: the tokens of the guarded web."""

from __future__ import annotations

import secrets

# API_TOKENS of the guarded web: two users and an admin.
ALICE, BOB, ROOT = (secrets.token_urlsafe(24) for _ in range(3))
