"""Message, Channel, Group (names validated on construction) and send buffering."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from channels_core import (
    Channel,
    ChannelFull,
    Group,
    InvalidChannelName,
    InvalidMessage,
    Message,
    MessageTooLarge,
    channel_layers,
)
from channels_core.manager import ChannelLayerWrapper
from channels_core.worker import buffered_sends, discard_buffered_sends
from tests.core.corekit import memory_wrapper


@pytest.fixture
def layer() -> Iterator[ChannelLayerWrapper]:
    wrapper = memory_wrapper()
    yield wrapper
    wrapper.close()


def test_channel_send_reaches_the_layer(layer: ChannelLayerWrapper) -> None:
    channel = Channel("test.a", channel_layer=layer)
    assert channel.name == "test.a" and str(channel) == "test.a"
    assert channel.channel_layer is layer
    channel.send({"x": 1})
    assert layer.receive(["test.a"]) == ("test.a", {"x": 1})


@pytest.mark.parametrize("name", ["", "bad name", "a" * 101, "x!", "a?b?c", 5])
def test_bad_channel_names_fail_on_construction(name: Any) -> None:
    with pytest.raises(InvalidChannelName):
        Channel(name, channel_layer=object())


@pytest.mark.parametrize("name", ["g!x", "g?x", "bad group", ""])
def test_bad_group_names_fail_on_construction(name: str) -> None:
    with pytest.raises(InvalidChannelName):
        Group(name, channel_layer=object())


def test_group_add_send_discard(layer: ChannelLayerWrapper) -> None:
    group = Group("room", channel_layer=layer)
    group.add(Channel("member.a", channel_layer=layer))
    group.add("member.b")
    group.add("member.b")  # idempotent
    assert sorted(layer.group_channels("room")) == ["member.a", "member.b"]
    group.send({"hi": True})
    assert layer.receive(["member.a"]) == ("member.a", {"hi": True})
    assert layer.receive(["member.b"]) == ("member.b", {"hi": True})
    group.discard("member.a")
    group.discard("member.a")  # no-op
    group.discard(Channel("member.b", channel_layer=layer))
    assert layer.group_channels("room") == []


def test_default_alias_resolves_lazily_through_channel_layers(layer: ChannelLayerWrapper) -> None:
    channel_layers.set("default", layer)
    try:
        channel = Channel("lazy.one")
        channel.send({"ok": 1})
        assert layer.receive(["lazy.one"]) == ("lazy.one", {"ok": 1})
        assert Group("g").channel_layer is layer
    finally:
        channel_layers.reset()


def test_equality_and_hash(layer: ChannelLayerWrapper) -> None:
    a1, a2 = Channel("a", channel_layer=layer), Channel("a", channel_layer=layer)
    assert a1 == a2 and hash(a1) == hash(a2)
    assert a1 != Channel("b", channel_layer=layer)
    assert a1 != Group("a", channel_layer=layer)


def test_message_attributes(layer: ChannelLayerWrapper) -> None:
    message = Message({"reply_channel": "reply.x", "path": "/"}, "http.request", layer)
    assert message.content == {"reply_channel": "reply.x", "path": "/"}
    assert message.channel == Channel("http.request", channel_layer=layer)
    assert message.reply_channel == Channel("reply.x", channel_layer=layer)
    assert message.channel_layer is layer
    assert message["path"] == "/" and message.get("nope", 3) == 3 and "path" in message
    assert Message({}, "c", layer).reply_channel is None


def test_message_with_a_bad_reply_channel_raises_when_used(layer: ChannelLayerWrapper) -> None:
    message = Message({"reply_channel": "bad name"}, "c", layer)
    with pytest.raises(InvalidChannelName):
        message.reply_channel  # noqa: B018


def test_buffered_sends_wait_for_the_block_and_keep_order(layer: ChannelLayerWrapper) -> None:
    with buffered_sends():
        Channel("buf", channel_layer=layer).send({"n": 1})
        Group("bufg", channel_layer=layer).add("buf")
        Group("bufg", channel_layer=layer).send({"n": 2})
        assert layer.receive(["buf"]) == (None, None)
        Channel("buf", channel_layer=layer).send({"n": 0}, immediately=True)
        assert layer.receive(["buf"]) == ("buf", {"n": 0})
    assert layer.receive(["buf"]) == ("buf", {"n": 1})
    assert layer.receive(["buf"]) == ("buf", {"n": 2})


def test_buffered_sends_snapshot_and_validate_at_send(layer: ChannelLayerWrapper) -> None:
    with buffered_sends():
        content: dict[str, Any] = {"items": [1]}
        Channel("snap", channel_layer=layer).send(content)
        content["items"].append(2)
        with pytest.raises(InvalidMessage, match="items"):
            Channel("snap", channel_layer=layer).send({"items": [object()]})
        with pytest.raises(MessageTooLarge):
            Channel("snap", channel_layer=layer).send({"big": b"x" * (2 * 1024 * 1024)})
    assert layer.receive(["snap"]) == ("snap", {"items": [1]})
    assert layer.receive(["snap"]) == (None, None)


def test_buffered_sends_flush_on_exception_and_can_be_discarded(
    layer: ChannelLayerWrapper,
) -> None:
    with pytest.raises(RuntimeError), buffered_sends():
        Channel("exc", channel_layer=layer).send({"n": 1})
        raise RuntimeError("boom")
    assert layer.receive(["exc"]) == ("exc", {"n": 1})
    with buffered_sends():
        Channel("exc", channel_layer=layer).send({"n": 2})
        assert discard_buffered_sends() == 1
    assert layer.receive(["exc"]) == (None, None)


def test_channel_full_while_flushing_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    layer = memory_wrapper(capacity=1)
    with buffered_sends():
        Channel("full", channel_layer=layer).send({"n": 1})
        Channel("full", channel_layer=layer).send({"n": 2})
        Channel("other", channel_layer=layer).send({"n": 3})
    assert "channel is full" in caplog.text
    assert layer.receive(["full"]) == ("full", {"n": 1})
    assert layer.receive(["other"]) == ("other", {"n": 3})
    with pytest.raises(ChannelFull):
        layer.send("full", {"n": 4}) or layer.send("full", {"n": 5})
    layer.close()


def test_a_reply_sent_inside_a_consumer_is_encoded_once_and_decoded_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from channels_core import codec, route
    from channels_core.worker import Worker

    calls = {"encode": 0, "decode": 0}
    real_encode, real_decode = codec.encode, codec.decode

    def encode(*args: Any, **kwargs: Any) -> bytes:
        calls["encode"] += 1
        return real_encode(*args, **kwargs)

    def decode(*args: Any, **kwargs: Any) -> Any:
        calls["decode"] += 1
        return real_decode(*args, **kwargs)

    def reply(message: Message) -> None:
        assert message.reply_channel is not None
        message.reply_channel.send({"text": message["text"].upper()})
        Group("g1", channel_layer=message.channel_layer).send({"text": "all"})

    wrapper = memory_wrapper([route("ask", reply)])
    wrapper.group_add("g1", "member")
    monkeypatch.setattr(codec, "encode", encode)
    monkeypatch.setattr(codec, "decode", decode)
    assert (
        Worker(wrapper, signal_handlers=False).handle(
            "ask", {"reply_channel": "answer", "text": "hi"}
        )
        == "consumed"
    )
    assert calls == {"encode": 2, "decode": 0}  # one per message sent, none undone
    assert wrapper.receive(["answer"]) == ("answer", {"text": "HI"})
    assert wrapper.receive(["member"]) == ("member", {"text": "all"})
    assert calls == {"encode": 2, "decode": 2}
    wrapper.close()


def test_a_layer_without_the_encoded_api_still_gets_a_snapshot() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    class Plain:
        def send(self, channel: str, message: dict[str, Any]) -> None:
            sent.append((channel, message))

    content: dict[str, Any] = {"items": [1]}
    with buffered_sends():
        Channel("plain", channel_layer=Plain()).send(content)
        content["items"].append(2)
        with pytest.raises(InvalidMessage):
            Channel("plain", channel_layer=Plain()).send({"bad": object()})
    assert sent == [("plain", {"items": [1]})]
