"""Connection strings: option parsing for ``scheme://...?key=value`` and password redaction."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from .exceptions import ImproperlyConfigured


def parse_bool(value: str) -> bool:
    """``1/true/yes/on`` and ``0/false/no/off`` (any case)."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


def split_options(
    url: str, converters: Mapping[str, Callable[[str], Any]]
) -> tuple[str, dict[str, Any]]:
    """Split ``url`` into the URL without the options this layer knows and those options, converted.

    Query keys not in ``converters`` stay in the URL (a client library may understand them).
    A value that does not convert raises :class:`ImproperlyConfigured` naming the key.
    """
    parts = urlsplit(url)
    kept: list[tuple[str, str]] = []
    options: dict[str, Any] = {}
    for key, raw in parse_qsl(parts.query, keep_blank_values=True):
        convert = converters.get(key)
        if convert is None:
            kept.append((key, raw))
            continue
        try:
            options[key] = convert(raw)
        except (TypeError, ValueError) as error:
            raise ImproperlyConfigured(
                f"option {key!r} in URL {redact(url)!r} is invalid: {error}"
            ) from None
    query = "&".join(f"{key}={value}" for key, value in kept)
    return urlunsplit(parts._replace(query=query)), options


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
