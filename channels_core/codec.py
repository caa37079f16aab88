"""The message rules (the contract's §3) and the wire format every layer stores: msgpack.

A message is a ``dict`` with ``str`` keys whose values are ``bytes``, ``str``, ``int`` (signed
64-bit), ``float``, ``bool``, ``None``, ``list``/``tuple`` (tuples arrive as lists) or ``dict``
(``str`` keys), nested freely. ``bytes`` and ``str`` stay distinct types on the way through.

:func:`encode` validates and serialises in one pass over the message, so what a layer stores is
already a copy: mutating the dict after ``send`` changes nothing that is received. Errors are
typed and name the offending key path, e.g. ``message['a'][2]['b']``.
"""

from __future__ import annotations

import threading
from typing import Any

import msgpack

from .exceptions import (
    InvalidMessage,
    MalformedMessage,
    MessageTooDeep,
    MessageTooLarge,
    MessageValueOutOfRange,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
DEFAULT_MESSAGE_SIZE_LIMIT = 1024 * 1024
#: Deepest nesting of dicts and lists a message may have (a container that holds itself
#: is reported as too deep): far beyond any real message, far below Python's recursion limit.
MAX_DEPTH = 100

_SCALAR_TYPES = frozenset({str, bytes, float, bool, type(None)})


class _BadValue(Exception):
    """Internal: carries the path of a bad value up to :func:`encode`."""

    def __init__(self, path: list[str], error: Exception) -> None:
        self.path = path
        self.error = error


def _check(value: Any, depth: int) -> None:
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise _BadValue(
                [], MessageValueOutOfRange(f"{value} is outside the signed 64-bit range")
            )
        return
    if depth >= MAX_DEPTH:
        raise _BadValue(
            [],
            MessageTooDeep(
                f"nested more than {MAX_DEPTH} levels deep (or a container that holds itself)"
            ),
        )
    if kind is dict:
        _check_dict(value, depth + 1)
        return
    if kind is list or kind is tuple:
        for index, item in enumerate(value):
            try:
                _check(item, depth + 1)
            except _BadValue as bad:
                bad.path.append(f"[{index}]")
                raise
        return
    # Subclasses of allowed types (IntEnum, OrderedDict, str enums) are accepted as their base.
    if isinstance(value, (str, bytes, float)):
        return
    if isinstance(value, int):
        _check(int(value), depth)
        return
    if isinstance(value, dict):
        _check_dict(value, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        _check(list(value), depth)
        return
    raise _BadValue(
        [],
        InvalidMessage(
            f"a value of type {kind.__name__} ({_preview(value)}) cannot be sent: allowed are "
            "dict, list, tuple, str, bytes, int, float, bool and None"
        ),
    )


def _preview(value: Any) -> str:
    try:
        return f"{value!r:.60}"
    except RecursionError:  # a container that holds itself, deeply
        return type(value).__name__


def _check_dict(value: dict[Any, Any], depth: int = 0) -> None:
    for key, item in value.items():
        if type(key) is not str and not isinstance(key, str):
            raise _BadValue(
                [f"[{key!r:.40}]"],
                InvalidMessage(f"dict keys must be str, got {type(key).__name__}"),
            )
        if type(item) in _SCALAR_TYPES:  # the common case, without a call
            continue
        try:
            _check(item, depth)
        except _BadValue as bad:
            bad.path.append(f"[{key!r}]")
            raise


def _path(parts: list[str]) -> str:
    """``message[...]...`` from the reversed key path (elided in the middle if very long)."""
    parts = list(reversed(parts))
    if len(parts) > 12:
        parts = [*parts[:6], f"...({len(parts) - 12} more)...", *parts[-6:]]
    return "message" + "".join(parts)


def validate(message: Any) -> None:
    """Raise a typed error naming the key path if ``message`` is not a valid channel message."""
    if not isinstance(message, dict):
        raise InvalidMessage(f"a message must be a dict, got {type(message).__name__}")
    try:
        _check_dict(message)
    except _BadValue as bad:
        path = _path(bad.path)
        error = bad.error
        raise type(error)(f"{path}: {error}") from None


_local = threading.local()


def _packer() -> msgpack.Packer:
    packer: msgpack.Packer | None = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True)
    return packer


def encode(message: Any, size_limit: int = DEFAULT_MESSAGE_SIZE_LIMIT) -> bytes:
    """Validate ``message`` and return its wire form; :class:`MessageTooLarge` above the limit."""
    validate(message)
    try:
        payload: bytes = _local.packer.pack(message)
    except AttributeError:  # first use on this thread
        payload = _packer().pack(message)
    if len(payload) > size_limit:
        raise MessageTooLarge(
            f"the message encodes to {len(payload)} bytes, above this layer's "
            f"message_size_limit of {size_limit} bytes; nothing was sent"
        )
    return payload


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not part of a channel message")


def decode(payload: bytes) -> dict[str, Any]:
    """Return the message a payload from :func:`encode` holds (a new dict every call);
    :class:`MalformedMessage` if the bytes are not one.

    Only what :func:`encode` can produce gets through: a dict with ``str`` keys of the
    message types. msgpack extension types, timestamps, ``bytes`` keys, integers outside the
    signed 64-bit range and nesting deeper than :data:`MAX_DEPTH` are refused, so a consumer
    never meets a value no sender could have sent.
    """
    try:
        message = msgpack.unpackb(payload, raw=False, use_list=True, ext_hook=_refuse_ext)
    except Exception as error:
        raise MalformedMessage(
            f"{len(payload)} bytes that are not a msgpack message ({type(error).__name__}: {error})"
        ) from None
    if type(message) is not dict:
        raise MalformedMessage(f"a msgpack {type(message).__name__}, not a message dict")
    try:
        _check_dict(message)
    except _BadValue as bad:
        raise MalformedMessage(
            f"a msgpack map no sender could have written: {_path(bad.path)}: {bad.error}"
        ) from None
    return message
