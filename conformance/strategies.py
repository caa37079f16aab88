"""Hypothesis strategies for channel/group names and messages, valid and invalid (SPEC §2-§3).

Valid names cover the whole alphabet and the 1/100 length boundaries, with ``?`` and ``!``
forms; invalid names cover each rule (empty, 101 characters, a bad character, two markers,
``!`` with ``?``, markers in group names, a trailing marker when sending, non-str values).
Valid messages cover every allowed type nested, ``bytes`` vs ``str``, astral unicode, NUL and
control characters and the signed 64-bit edges; invalid ones hold exactly one bad value (a
wrong type, a non-str key, an out-of-range int) under the key ``"bad_value_here"``, so a test
can check that the error names the key path.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from typing import Any

from hypothesis import strategies as st

NAME_ALPHABET = string.ascii_letters + string.digits + "-_."
MAX_NAME = 100
#: Channels 4 accepts names shorter than 100 characters (``BaseChannelLayer.MAX_NAME_LENGTH``).
CHANNELS4_MAX_NAME = 99
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
BAD_KEY = "bad_value_here"


@cache
def _plain(min_size: int = 1, max_size: int = MAX_NAME) -> st.SearchStrategy[str]:
    return st.text(NAME_ALPHABET, min_size=min_size, max_size=max_size)


def _with_length(total: int) -> st.SearchStrategy[int]:
    return st.integers(1, total)


# -- names --------------------------------------------------------------------------------------


@cache
def group_names(max_size: int = MAX_NAME) -> st.SearchStrategy[str]:
    """Valid group names, including 1 and exactly ``max_size`` (100) characters."""
    return st.one_of(_plain(1, max_size), _plain(max_size, max_size), _plain(1, 1))


@cache
def plain_channel_names() -> st.SearchStrategy[str]:
    """Valid channel names without ``!``/``?``."""
    return group_names()


@st.composite
def _marked(draw: st.DrawFn, marker: str, longest: int = MAX_NAME, shortest_head: int = 0) -> str:
    total = draw(st.sampled_from([longest, draw(st.integers(2 + shortest_head, longest))]))
    head_len = draw(st.integers(shortest_head, total - 2))
    head = draw(_plain(head_len, head_len)) if head_len else ""
    tail_len = total - 1 - head_len
    return head + marker + draw(_plain(tail_len, tail_len))


@cache
def single_reader_names() -> st.SearchStrategy[str]:
    """Valid full ``?`` names one can send to (``body?tail``), up to 100 characters."""
    return _marked("?")


@cache
def process_names() -> st.SearchStrategy[str]:
    """Valid full ``!`` names one can send to (``body!tail``), up to 100 characters."""
    return _marked("!")


@cache
def channel_names() -> st.SearchStrategy[str]:
    """Every kind of valid channel name one can send to."""
    return st.one_of(plain_channel_names(), single_reader_names(), process_names())


@dataclass(frozen=True)
class BadName:
    """An invalid name and the rule it breaks (shown in shrunk counterexamples)."""

    value: Any
    rule: str

    def __repr__(self) -> str:
        return f"BadName({self.value!r}, rule={self.rule!r})"


def _bad(rule: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[BadName]:
    return st.builds(BadName, values, st.just(rule))


@cache
def invalid_group_names() -> st.SearchStrategy[BadName]:
    """Group names that break a rule (markers are not allowed in groups)."""
    return st.one_of(
        _invalid_common(),
        _bad("group with '!'", st.builds(lambda a, b: a + "!" + b, _plain(0, 40), _plain(0, 40))),
        _bad("group with '?'", st.builds(lambda a, b: a + "?" + b, _plain(0, 40), _plain(0, 40))),
    )


@cache
def invalid_channel_names() -> st.SearchStrategy[BadName]:
    """Names no one may send to: each rule of SPEC §2 broken once."""
    return st.one_of(
        _invalid_common(),
        _bad("two '!'", st.builds(lambda a, b: f"{a}!{b}!x", _plain(1, 30), _plain(0, 30))),
        _bad("two '?'", st.builds(lambda a, b: f"{a}?{b}?x", _plain(1, 30), _plain(0, 30))),
        _bad("'!' and '?'", st.builds(lambda a, b: f"{a}!{b}?x", _plain(0, 30), _plain(0, 30))),
        _bad("'?' and '!'", st.builds(lambda a, b: f"{a}?{b}!x", _plain(0, 30), _plain(0, 30))),
        _bad("ends with '?' when sent to", _plain(0, 99).map(lambda a: a + "?")),
        _bad("ends with '!' when sent to", _plain(0, 99).map(lambda a: a + "!")),
    )


@cache
def channels4_invalid_channel_names() -> st.SearchStrategy[BadName]:
    """Names Channels 4 refuses (``channel_name_regex``, ``len(name) < 100``): empty, 100
    characters or more, a character outside the alphabet before the ``!``, two ``!``, any
    ``?``, or not a str."""
    bad_chars = st.characters(
        codec="utf-8", exclude_characters=NAME_ALPHABET + "!", exclude_categories=["Cs"]
    )
    return st.one_of(
        _bad("empty", st.just("")),
        _bad("100 characters", _plain(100, 100)),
        _bad("longer than 99", _plain(100, 300)),
        _bad(
            "character outside A-Z a-z 0-9 - _ . before any '!'",
            st.builds(lambda a, c, b: a + c + b, _plain(0, 40), bad_chars, _plain(0, 40)),
        ),
        _bad("two '!'", st.builds(lambda a, b: f"{a}!{b}!x", _plain(1, 30), _plain(0, 30))),
        _bad("a '?'", st.builds(lambda a, b: f"{a}?{b}", _plain(1, 30), _plain(0, 30))),
        _bad("not a str", st.one_of(st.binary(min_size=1, max_size=20), st.none(), st.integers())),
    )


@cache
def _invalid_common() -> st.SearchStrategy[BadName]:
    bad_chars = st.characters(
        codec="utf-8", exclude_characters=NAME_ALPHABET + "!?", exclude_categories=["Cs"]
    )
    return st.one_of(
        _bad("empty", st.just("")),
        _bad("101 characters", _plain(101, 101)),
        _bad("longer than 100", _plain(101, 300)),
        _bad(
            "character outside A-Z a-z 0-9 - _ .",
            st.builds(lambda a, c, b: a + c + b, _plain(0, 40), bad_chars, _plain(0, 40)),
        ),
        _bad("not a str", st.one_of(st.binary(min_size=1, max_size=20), st.none(), st.integers())),
    )


# -- messages -----------------------------------------------------------------------------------

_EDGE_INTS = [0, 1, -1, 255, 256, 2**31 - 1, -(2**31), 2**32, 2**53 + 1, INT64_MAX, INT64_MIN]


@cache
def int64s() -> st.SearchStrategy[int]:
    """Signed 64-bit ints, the edges drawn often."""
    return st.one_of(st.sampled_from(_EDGE_INTS), st.integers(INT64_MIN, INT64_MAX))


@cache
def texts() -> st.SearchStrategy[str]:
    """Any str msgpack can carry: NUL, control characters and astral code points included."""
    special = st.sampled_from(["", "\x00", "a\x00b", "\x1b[0m\r\n\t", "\U0001f600", "\U0010ffff"])
    return st.one_of(special, st.text(max_size=30))


@cache
def byte_strings() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from([b"", b"\x00", b"\xff\xfe", "é".encode()]), st.binary(max_size=30)
    )


@cache
def scalars(allow_nan: bool = True) -> st.SearchStrategy[Any]:
    return st.one_of(
        byte_strings(),
        texts(),
        int64s(),
        st.floats(allow_nan=allow_nan),
        st.booleans(),
        st.none(),
    )


@cache
def values(allow_nan: bool = True, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any allowed message value, nested lists, tuples and dicts included."""
    return st.recursive(
        scalars(allow_nan),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=4).map(tuple),
            st.dictionaries(texts(), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


@cache
def messages(allow_nan: bool = True, max_leaves: int = 12) -> st.SearchStrategy[dict[str, Any]]:
    """Valid messages: dicts with str keys and allowed values, nested freely."""
    return st.dictionaries(texts(), values(allow_nan, max_leaves), max_size=6)


class _Opaque:
    """A value of a type no layer may send."""

    def __repr__(self) -> str:
        return "_Opaque()"


@dataclass(frozen=True)
class BadMessage:
    """An invalid message, the exception kind it must raise and the rule it breaks."""

    value: Any
    error: type[Exception]
    rule: str

    def __repr__(self) -> str:
        return f"BadMessage({self.value!r:.200}, {self.error.__name__}, rule={self.rule!r})"


@cache
def _bad_values() -> st.SearchStrategy[tuple[Any, type[Exception], str]]:
    return st.one_of(
        st.sampled_from(
            [
                ({1, 2}, TypeError, "set"),
                (frozenset(), TypeError, "frozenset"),
                (1 + 2j, TypeError, "complex"),
                (_Opaque(), TypeError, "arbitrary object"),
                (bytearray(b"x"), TypeError, "bytearray"),
                (object, TypeError, "a class"),
                (INT64_MAX + 1, ValueError, "int above 2**63-1"),
                (INT64_MIN - 1, ValueError, "int below -2**63"),
            ]
        ),
        st.integers(min_value=INT64_MAX + 1).map(lambda n: (n, ValueError, "huge int")),
        st.integers(max_value=INT64_MIN - 1).map(lambda n: (n, ValueError, "huge negative int")),
        st.sampled_from([1, b"k", None, (1, 2)]).map(
            lambda key: ({key: "v"}, TypeError, f"dict key of type {type(key).__name__}")
        ),
    )


@st.composite
def invalid_messages(draw: st.DrawFn) -> BadMessage:
    """A valid message with one bad value hidden at some depth under ``BAD_KEY``."""
    bad, error, rule = draw(_bad_values())
    holder: Any = {BAD_KEY: bad}
    for _ in range(draw(st.integers(0, 3))):
        holder = draw(st.sampled_from([[holder], {"nested": holder}, ("t", holder)]))
    base = draw(messages(max_leaves=4))
    base.pop("outer", None)
    base["outer"] = holder
    return BadMessage(base, error, rule)


@cache
def non_dict_messages() -> st.SearchStrategy[BadMessage]:
    """Top-level values that are not dicts."""
    return st.sampled_from(
        [
            BadMessage([("a", 1)], TypeError, "list"),
            BadMessage("text", TypeError, "str"),
            BadMessage(b"bytes", TypeError, "bytes"),
            BadMessage(None, TypeError, "None"),
            BadMessage(42, TypeError, "int"),
        ]
    )
