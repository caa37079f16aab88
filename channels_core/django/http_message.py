"""Reading the HTTP parts of an ASGI 1.0 ``http.request`` or ``websocket.connect`` message.

Both carry ``path``, ``query_string`` (bytes, not url-decoded), ``root_path`` and ``headers``:
a list of ``[name, value]`` pairs of byte strings, names lower-cased, duplicates kept in order.
These helpers decode them the way Django expects (latin-1 for header bytes, as WSGI does;
UTF-8 for the path and, like ``QueryDict``, for the query string) and raise
:class:`InvalidRequestMessage` naming the field when the message does not follow that shape.
Text is accepted where bytes are expected, since some protocol servers send ``str``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import QueryDict, parse_cookie

__all__ = [
    "InvalidRequestMessage",
    "cookies",
    "header",
    "headers",
    "optional_str",
    "query_params",
    "query_string",
    "required_str",
]


class InvalidRequestMessage(ValueError):
    """An ASGI message whose HTTP fields are missing or of the wrong type."""


def _text(value: Any, field: str) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        return value
    raise InvalidRequestMessage(
        f"{field}: must be bytes, got {type(value).__name__}: {value!r:.60}"
    )


def required_str(content: Mapping[str, Any], field: str) -> str:
    """``content[field]`` as a non-empty ``str``; UTF-8 ``bytes`` are decoded (servers and tests
    of the Channels 1.x era send ``path`` as bytes)."""
    value = content.get(field)
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidRequestMessage(
                f"{field!r}: bytes that are not UTF-8 ({error.reason} at byte {error.start}): "
                f"{content.get(field)!r:.60}"
            ) from None
    if not isinstance(value, str) or not value:
        raise InvalidRequestMessage(
            f"{field!r}: required, must be a non-empty str, got {value!r:.60}"
        )
    return value


def optional_str(content: Mapping[str, Any], field: str, default: str = "") -> str:
    """``content[field]`` as ``str`` (bytes are decoded), or ``default`` if absent or None."""
    value = content.get(field)
    if value is None:
        return default
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise InvalidRequestMessage(
            f"{field!r}: must be a str, got {type(value).__name__}: {value!r:.60}"
        )
    return value


def headers(content: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The ``headers`` field as ``(lower-case name, value)`` text pairs, in message order."""
    raw = content.get("headers") or []
    if isinstance(raw, Mapping):  # an older draft of the spec sent a dict
        raw = list(raw.items())
    if not isinstance(raw, (list, tuple)):
        raise InvalidRequestMessage(
            f"'headers': must be a list of [name, value] pairs, got {type(raw).__name__}"
        )
    decoded: list[tuple[str, str]] = []
    for index, pair in enumerate(raw):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise InvalidRequestMessage(
                f"'headers'[{index}]: must be a [name, value] pair, got {pair!r:.60}"
            )
        name = _text(pair[0], f"'headers'[{index}][0]").lower()
        decoded.append((name, _text(pair[1], f"'headers'[{index}][1]")))
    return decoded


def header(content: Mapping[str, Any], name: str) -> str | None:
    """The value of header ``name`` (repeated headers joined as HTTP allows), or None."""
    values = [value for key, value in headers(content) if key == name]
    if not values:
        return None
    # Several Cookie headers (HTTP/2 splits them) join with "; "; other headers with ",".
    return ("; " if name == "cookie" else ",").join(values)


def query_string(content: Mapping[str, Any]) -> str:
    """The raw (still percent-encoded) query string as text.

    Bytes are decoded as UTF-8 (clients do send raw UTF-8 in query strings), falling back to
    latin-1 for bytes that are not UTF-8, as Django's ``QueryDict`` does."""
    value = content.get("query_string")
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")
    return _text(value, "'query_string'")


def query_params(content: Mapping[str, Any]) -> QueryDict:
    """The query string parsed into an immutable ``QueryDict``."""
    return QueryDict(query_string(content))


def cookies(content: Mapping[str, Any]) -> dict[str, str]:
    """The cookies sent in the ``cookie`` header(s)."""
    return dict(parse_cookie(header(content, "cookie") or ""))
