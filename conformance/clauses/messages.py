"""SPEC §3 Messages."""

from __future__ import annotations

from typing import Any

from hypothesis import given

from .. import strategies
from ..context import Context
from ..readings import reading_of
from ..registry import clause
from ..settings import suite_settings
from ._helpers import assert_same_message, expect_error

MIB = 1024 * 1024
#: msgpack overhead of ``{"b": <bin32>}``: fixmap (1) + fixstr "b" (2) + bin32 header (5).
_BIN_MESSAGE_OVERHEAD = 8


def bytes_message(encoded_size: int) -> dict[str, bytes]:
    """A message whose msgpack encoding is exactly ``encoded_size`` bytes (>= 65544)."""
    return {"b": b"\x00" * (encoded_size - _BIN_MESSAGE_OVERHEAD)}


@clause("messages.round-trip", "Every valid message arrives equal, types included", "§3")
def round_trip(ctx: Context) -> None:
    """A message is a `dict` with `str` keys. Values: `bytes`, `str`, `int` in signed 64-bit
    range, `float`, `bool`, `None`, `list` (tuples become lists), `dict` (str keys), nested
    freely."""
    layer = ctx.layer()

    @suite_settings()
    @given(message=strategies.messages())
    def check(message: dict[str, Any]) -> None:
        layer.send("round.trip", message)
        channel, got = layer.receive(["round.trip"])
        assert channel == "round.trip", f"nothing received for {message!r:.200}"
        assert_same_message(message, got)

    check()


@clause("messages.bytes-and-str", "bytes and str stay distinct, NUL and astral included", "§3")
def bytes_and_str(ctx: Context) -> None:
    """`bytes` and `str` round-trip as distinct types, including NUL, control characters and
    astral unicode."""
    layer = ctx.layer()
    message = {
        "bytes": b"\x00\x01binary\xff",
        "str": "\x00\x01text\U0001f600\U0010ffff",
        "empty_bytes": b"",
        "empty_str": "",
        "nested": {"b": [b"a", "a"], "\x00key\U0001f600": True},
        "bool_not_int": [True, 1, 1.0, False, 0, 0.0],
    }
    layer.send("types", message)
    _, got = layer.receive(["types"])
    assert_same_message(message, got)


@clause("messages.int64", "Signed 64-bit ints round-trip; outside raises ValueError", "§3")
def int64(ctx: Context) -> None:
    """Values: ... `int` in signed 64-bit range ... an out-of-range int raises `ValueError`."""
    layer = ctx.layer()
    error = reading_of(layer).message_error(ValueError)
    edges = {"max": 2**63 - 1, "min": -(2**63), "u32": 2**32, "neg": -1, "zero": 0}
    layer.send("ints", edges)
    _, got = layer.receive(["ints"])
    assert_same_message(edges, got)
    for bad in (2**63, -(2**63) - 1, 2**64):
        top: dict[str, Any] = {"n": bad}
        nested: dict[str, Any] = {"l": [1, {"n": bad}]}
        expect_error(error, lambda: layer.send("ints", top), f"send {top}")  # noqa: B023
        expect_error(error, lambda: layer.send("ints", nested), f"send {nested}")  # noqa: B023
    assert layer.receive(["ints"]) == (None, None), "an invalid message was stored"


@clause("messages.invalid-rejected", "Invalid values raise TypeError naming the key path", "§3")
def invalid_rejected(ctx: Context) -> None:
    """Anything else raises `TypeError` at `send` naming the offending key path; an
    out-of-range int raises `ValueError`. [Channels 4: refused with an exception, nothing
    stored.]"""
    layer = ctx.layer()
    reading = reading_of(layer)

    @suite_settings()
    @given(bad=strategies.invalid_messages() | strategies.non_dict_messages())
    def check(bad: strategies.BadMessage) -> None:
        kind = reading.message_error(bad.error)
        error = expect_error(kind, lambda: layer.send("invalid", bad.value), f"send {bad}")
        if reading.strict_errors and isinstance(bad.value, dict):
            if not bad.rule.startswith("dict key"):
                assert strategies.BAD_KEY in str(error), f"{error} does not name the key path"
        if "groups" in layer.extensions:
            expect_error(kind, lambda: layer.send_group("g", bad.value), f"group {bad}")

    check()
    assert layer.receive(["invalid"]) == (None, None), "an invalid message was stored"


@clause("messages.mutation-after-send", "Mutating a sent dict changes nothing received", "§3")
def mutation_after_send(ctx: Context) -> None:
    """The sender keeps no link to what was sent: mutating the dict after `send` changes
    nothing received."""
    layer = ctx.layer()
    message: dict[str, Any] = {"text": "original", "list": [1, 2], "dict": {"k": "v"}}
    layer.send("mutate", message)
    message["text"] = "changed"
    message["list"].append(3)
    message["dict"]["k"] = "changed"
    message["new"] = True
    _, got = layer.receive(["mutate"])
    assert got == {"text": "original", "list": [1, 2], "dict": {"k": "v"}}, (
        f"the received message reflects changes made after send: {got!r}"
    )
    got["text"] = "receiver-changed"
    layer.send("mutate", message)
    _, again = layer.receive(["mutate"])
    assert again is not message and again["text"] == "changed"


@clause("messages.one-mib-accepted", "A message of 1 MiB encoded is accepted by default", "§3")
def one_mib(ctx: Context) -> None:
    """Size: every layer accepts any message whose msgpack encoding is up to 1 MiB."""
    layer = ctx.layer()
    message = bytes_message(MIB)
    layer.send("big", message)
    channel, got = layer.receive(["big"])
    assert channel == "big", "a 1 MiB message was not received"
    assert got == message, "the 1 MiB message arrived altered"


@clause("messages.size-limit", "Above message_size_limit, MessageTooLarge and nothing sent", "§3")
def size_limit(ctx: Context) -> None:
    """Above the layer's `message_size_limit` (default 1 MiB, configurable) `send`/`send_group`
    raise `MessageTooLarge` before anything reaches the broker."""
    limit = 70_000
    layer = ctx.layer(message_size_limit=limit)
    layer.send("sized", bytes_message(limit))
    assert layer.receive(["sized"])[0] == "sized", "a message exactly at the limit was refused"
    expect_error(
        layer.MessageTooLarge, lambda: layer.send("sized", bytes_message(limit + 1)), "limit+1"
    )
    if "groups" in layer.extensions:
        layer.group_add("sized.group", "sized")
        expect_error(
            layer.MessageTooLarge,
            lambda: layer.send_group("sized.group", bytes_message(limit + 1)),
            "send_group above the limit",
        )
    assert layer.receive(["sized"]) == (None, None), "an oversized message was stored"
    default = ctx.layer(prefix=ctx.prefix + "-default")
    if getattr(default, "message_size_limit", MIB) == MIB:
        expect_error(
            default.MessageTooLarge, lambda: default.send("x", bytes_message(MIB + 1)), "1 MiB+1"
        )
