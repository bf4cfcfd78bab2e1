"""API_TOKENS: the tokens that may use the service when it is not open.

Comma-separated; each entry is ``name:token`` or a bare token. The name is what logs,
rate limits and the pages show, so a token itself is never printed; a bare token is
named ``token-`` and the first 8 hex digits of its SHA-256. Error messages name an
entry by its position, never by its text.
"""

from __future__ import annotations

import hashlib
import re

MIN_TOKEN_LENGTH = 16
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Visible ASCII except the comma that separates entries: a token survives a shell, a
# .env file and an HTTP header unchanged.
_TOKEN = re.compile(r"[\x21-\x2b\x2d-\x7e]+")


def bare_name(token: str) -> str:
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:8]


def parse_api_tokens(raw: str) -> tuple[tuple[str, str], ...]:
    """(name, token) pairs; ValueError naming the entry that is wrong."""
    pairs: list[tuple[str, str]] = []
    names: set[str] = set()
    tokens: set[str] = set()
    for position, entry in enumerate((e.strip() for e in raw.split(",")), 1):
        if not entry:
            continue
        name, sep, token = entry.partition(":")
        if not sep:
            name, token = bare_name(entry), entry
        where = f"entry {position}"
        if not _NAME.fullmatch(name):
            raise ValueError(f"{where}: the name before ':' must be 1-64 letters, digits, '_', '.' or '-' "
                             "(a token that holds ':' needs a name in front)")
        if not _TOKEN.fullmatch(token):
            raise ValueError(f"{where} ({name}): a token is visible ASCII without spaces or commas")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"{where} ({name}): the token has {len(token)} characters; use at least "
                             f"{MIN_TOKEN_LENGTH}, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if name in names:
            raise ValueError(f"{where}: the name {name!r} is given twice")
        if token in tokens:
            raise ValueError(f"{where} ({name}): the same token is given twice")
        names.add(name)
        tokens.add(token)
        pairs.append((name, token))
    return tuple(pairs)
