"""Connection strings: password redaction (their options: :mod:`channels_core.options`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

#: Option names whose values are secrets, in a URL query (``?password=``) or a libpq keyword
#: string (``password=...``): anything containing one of these words.
_SECRET_WORDS = r"(?:[a-z_]*(?:password|passwd|pass|secret|token|credential)[a-z_]*)"
_QUERY_SECRET = re.compile(r"([?&;]" + _SECRET_WORDS + r"=)([^&#\s]*)", re.IGNORECASE)
_KEYWORD_SECRET = re.compile(
    r"((?:^|(?<=\s))" + _SECRET_WORDS + r"\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)", re.IGNORECASE
)
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
MASK = "***"


def _mask_userinfo(text: str) -> str:
    """Mask the password of every ``scheme://user:password@`` in ``text``."""
    out: list[str] = []
    position = 0
    for match in _SCHEME.finditer(text):
        if match.start() < position:
            continue
        start = match.end()
        stop = start
        while stop < len(text) and not text[stop].isspace():
            stop += 1
        at = text.rfind("@", start, stop)  # the last one: a raw password may hold an '@'
        colon = text.find(":", start, at) if at >= 0 else -1
        if colon < 0:
            continue
        out.append(text[position : colon + 1] + MASK)
        position = at
    out.append(text[position:])
    return "".join(out)


def redact(text: str) -> str:
    """``text`` (a URL, a libpq keyword string, or a message quoting one) with every password
    replaced by ``***``: the userinfo password of URLs, password-like query options
    (``?password=``, ``?sentinel_password=``, ...) and ``password=`` keywords. Safe for logs,
    error messages and reports; errs on the side of masking too much."""
    text = _mask_userinfo(text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
    return _KEYWORD_SECRET.sub(lambda m: m.group(1) + MASK, text)


_SECRET_KEY = re.compile(_SECRET_WORDS + r"\Z", re.IGNORECASE)


def redact_value(value: Any) -> Any:
    """:func:`redact` through a configuration value: every string redacted, and in mappings
    the values of password-like keys (``password``, ``sentinel_password``...) masked whole."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            key: MASK if isinstance(key, str) and _SECRET_KEY.match(key) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_value(item) for item in value]
    return value


def secrets_of(conninfo: str) -> list[str]:
    """The raw secret tokens written in ``conninfo`` (and their percent-decoded forms)."""
    found: list[str] = []
    for match in _SCHEME.finditer(conninfo):
        start = match.end()
        stop = start
        while stop < len(conninfo) and not conninfo[stop].isspace():
            stop += 1
        at = conninfo.rfind("@", start, stop)
        colon = conninfo.find(":", start, at) if at >= 0 else -1
        if colon >= 0:
            found.append(conninfo[colon + 1 : at])
    found += [m.group(2) for m in _QUERY_SECRET.finditer(conninfo)]
    found += [m.group(2).strip("'") for m in _KEYWORD_SECRET.finditer(conninfo)]
    decoded = [unquote(token) for token in found]
    return sorted({token for token in found + decoded if token}, key=len, reverse=True)


def scrub(message: str, conninfo: str) -> str:
    """``message`` (e.g. a client library's error about ``conninfo``) with every secret of
    ``conninfo`` masked, even where the message quotes it without saying it is one."""
    for token in secrets_of(conninfo):
        message = message.replace(token, MASK)
    return redact(message)
