"""Values no sender can produce: typed errors on the way in, MalformedMessage on the way out."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from channels_core import codec
from channels_core.exceptions import MalformedMessage, MessageTooDeep


def _nested(depth: int, kind: str) -> dict[str, Any]:
    inner: Any = "leaf"
    for _ in range(depth):
        inner = {"k": inner} if kind == "dict" else [inner]
    return {"top": inner}


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_deep_nesting_is_a_value_error_naming_the_path(kind: str) -> None:
    with pytest.raises(MessageTooDeep) as caught:
        codec.encode(_nested(500, kind))
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith("message['top']")


def test_nesting_up_to_the_limit_round_trips() -> None:
    message = _nested(codec.MAX_DEPTH - 1, "list")
    assert codec.decode(codec.encode(message)) == message


@pytest.mark.parametrize("holder", ["dict", "list"])
def test_a_message_holding_itself_is_a_typed_error(holder: str) -> None:
    message: dict[str, Any] = {}
    if holder == "dict":
        message["self"] = message
    else:
        loop: list[Any] = []
        loop.append(loop)
        message["loop"] = loop
    with pytest.raises(MessageTooDeep, match="holds itself"):
        codec.encode(message)


@pytest.mark.parametrize(
    "value",
    [
        msgpack.ExtType(5, b"x"),
        msgpack.Timestamp(1, 2),
        2**64 - 1,
        2**63,
    ],
    ids=["ext", "timestamp", "uint64-max", "int64-max+1"],
)
def test_decoder_refuses_values_no_sender_can_write(value: object) -> None:
    payload = msgpack.packb({"a": [1, {"b": value}]}, use_bin_type=True)
    with pytest.raises(MalformedMessage):
        codec.decode(payload)


def test_decoder_refuses_bytes_keys() -> None:
    payload = msgpack.packb({b"key": 1}, use_bin_type=True)
    with pytest.raises(MalformedMessage, match="keys must be str"):
        codec.decode(payload)


def test_decoder_refuses_deep_nesting() -> None:
    payload = msgpack.packb(_nested(500, "list"), use_bin_type=True)
    with pytest.raises(MalformedMessage):
        codec.decode(payload)
