"""API_TOKENS parsing: names, bare tokens, and errors that never print a token."""

from __future__ import annotations

import pytest

from img2vid.apitokens import ApiToken, bare_name, parse_api_tokens

A, B = "a" * 20 + "1", "b" * 20 + "2"


def test_named_and_bare_tokens_with_spaces_and_empty_entries():
    pairs = parse_api_tokens(f" alice:{A} ,, {B}, ")
    assert pairs == (ApiToken("alice", A), ApiToken(bare_name(B), B))
    assert bare_name(B).startswith("token-") and B not in bare_name(B)


def test_an_entry_ending_in_admin_is_an_admin_token():
    # given a named admin token, a plain one, and a token holding ':' of its own
    pairs = parse_api_tokens(f"root:{A}:admin, alice:{B}, carol:{A}x:y")
    # then only the first is an admin, and ':admin' is not part of its token
    assert pairs == (ApiToken("root", A, admin=True), ApiToken("alice", B), ApiToken("carol", f"{A}x:y"))
    # and a token never shows in the token's repr (settings may be printed)
    assert A not in repr(pairs[0])


def test_unset_means_no_tokens():
    assert parse_api_tokens("") == () and parse_api_tokens(" , ") == ()


@pytest.mark.parametrize(
    "raw, words",
    [
        ("alice:tiny-token", "entry 1 (alice): the token has 10 characters; use at least 16"),
        (f"alice:{A},alice:{B}", "entry 2: the name 'alice' is given twice"),
        (f"alice:{A},bob:{A}", "entry 2 (bob): the same token is given twice"),
        (f"al ice:{A}", "entry 1: the name before ':'"),
        (f"alice:{A[:10]} {A[10:]}", "entry 1 (alice): a token is visible ASCII"),
    ],
)
def test_mistakes_name_the_entry_not_the_token(raw, words):
    with pytest.raises(ValueError) as err:
        parse_api_tokens(raw)
    assert words in str(err.value)
    for secret in ("tiny-token", A, B):
        assert secret not in str(err.value)
