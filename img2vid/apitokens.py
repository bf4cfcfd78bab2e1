"""API_TOKENS: the tokens that may use the service when it is not open.

Comma-separated; each entry is ``name:token``, ``name:token:admin`` or a bare token. The
name is what logs, rate limits and the pages show, and who owns the jobs made with the
token, so a token itself is never printed; a bare token is named ``token-`` and the
first 8 hex digits of its SHA-256. An admin token sees and manages every job. Error
messages name an entry by its position, never by its text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

MIN_TOKEN_LENGTH = 16
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Visible ASCII except the comma that separates entries: a token survives a shell, a
# .env file and an HTTP header unchanged.
_TOKEN = re.compile(r"[\x21-\x2b\x2d-\x7e]+")


ADMIN_SUFFIX = ":admin"


@dataclass(frozen=True)
class ApiToken:
    name: str
    token: str = field(repr=False)
    admin: bool = False


def bare_name(token: str) -> str:
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:8]


def parse_api_tokens(raw: str) -> tuple[ApiToken, ...]:
    """The tokens of API_TOKENS; ValueError naming the entry that is wrong."""
    pairs: list[ApiToken] = []
    names: set[str] = set()
    tokens: set[str] = set()
    for position, entry in enumerate((e.strip() for e in raw.split(",")), 1):
        if not entry:
            continue
        name, sep, token = entry.partition(":")
        if not sep:
            name, token = bare_name(entry), entry
        # "name:token:admin": so a token of a named entry cannot itself end in ":admin".
        admin = bool(sep) and token.endswith(ADMIN_SUFFIX)
        if admin:
            token = token[: -len(ADMIN_SUFFIX)]
        where = f"entry {position}"
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"{where}: the name before ':' must be 1-64 letters, digits, '_', '.' or '-' "
                "(a token that holds ':' needs a name in front)"
            )
        if not _TOKEN.fullmatch(token):
            raise ValueError(f"{where} ({name}): a token is visible ASCII without spaces or commas")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"{where} ({name}): the token has {len(token)} characters; use at least "
                f"{MIN_TOKEN_LENGTH}, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        if name in names:
            raise ValueError(f"{where}: the name {name!r} is given twice")
        if token in tokens:
            raise ValueError(f"{where} ({name}): the same token is given twice")
        names.add(name)
        tokens.add(token)
        pairs.append(ApiToken(name, token, admin))
    return tuple(pairs)
