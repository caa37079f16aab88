"""A Channels 4 chat app on each backend, through ``channels_core.channels4.ChannelLayer``.

The consumer is the one of Channels' tutorial: it joins a room group on connect, and relays what
a client sends to the whole room with ``group_send``; the clients are Channels' own
``WebsocketCommunicator``. Each test runs once per alias of ``CHANNEL_LAYERS`` (one per backend,
see ``tests/channels4/settings.py``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings

from channels_core.channels4 import ChannelLayer

ALIASES = sorted(settings.CHANNEL_LAYERS)


def chat_consumer(alias: str) -> Any:
    """The tutorial's chat consumer, on the channel layer ``alias``."""

    class ChatConsumer(AsyncWebsocketConsumer):
        channel_layer_alias = alias

        async def connect(self) -> None:
            self.room = "chat." + self.scope["url_route"]["kwargs"]["room"]
            await self.channel_layer.group_add(self.room, self.channel_name)
            await self.accept()

        async def disconnect(self, code: int) -> None:
            await self.channel_layer.group_discard(self.room, self.channel_name)

        async def receive(self, text_data: str | None = None, bytes_data: Any = None) -> None:
            await self.channel_layer.group_send(
                self.room, {"type": "chat.message", "text": json.loads(text_data or "{}")["text"]}
            )

        async def chat_message(self, event: dict[str, Any]) -> None:
            await self.send(text_data=json.dumps({"text": event["text"]}))

    return ChatConsumer.as_asgi()


def client(alias: str, room: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(chat_consumer(alias), f"/ws/chat/{room}/")
    communicator.scope["url_route"] = {"kwargs": {"room": room}}
    return communicator


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def test_settings_name_the_adapter(alias: str) -> None:
    async def scenario() -> None:
        layer = get_channel_layer(alias)
        assert isinstance(layer, ChannelLayer), layer
        assert layer.layer.prefix.endswith(alias)
        assert layer.extensions == ["groups", "flush"]

    run(scenario())


def test_chat_room_broadcast(alias: str) -> None:
    async def scenario() -> None:
        alice, bob, carol = client(alias, "lobby"), client(alias, "lobby"), client(alias, "other")
        for communicator in (alice, bob, carol):
            connected, _ = await communicator.connect(timeout=10)  # a first connection
            assert connected
        await alice.send_to(text_data=json.dumps({"text": "hello"}))
        for communicator in (alice, bob):
            assert json.loads(await communicator.receive_from(timeout=10)) == {"text": "hello"}
        assert await carol.receive_nothing(timeout=0.5), "another room got the message"
        await bob.disconnect(timeout=10)
        await alice.send_to(text_data=json.dumps({"text": "after bob left"}))
        assert json.loads(await alice.receive_from(timeout=10)) == {"text": "after bob left"}
        for communicator in (alice, carol):
            await communicator.disconnect(timeout=10)

    run(scenario())


def test_many_consumers_of_one_process_each_get_their_own(alias: str) -> None:
    """Twenty consumers share one ``!`` inbox of the layer; each gets exactly its messages."""

    async def scenario() -> None:
        layer = get_channel_layer(alias)
        names = [await layer.new_channel() for _ in range(20)]
        assert len(set(names)) == 20 and all("!" in name for name in names)
        receivers = [asyncio.ensure_future(layer.receive(name)) for name in names]
        await asyncio.sleep(0.1)
        for index, name in enumerate(reversed(names)):
            await layer.send(name, {"type": "x", "to": name, "i": index})
        got = await asyncio.gather(*receivers)
        assert [message["to"] for message in got] == names

    run(scenario())


def test_waiting_never_blocks_the_event_loop(alias: str) -> None:
    async def scenario() -> None:
        layer = get_channel_layer(alias)
        name = await layer.new_channel()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.ensure_future(ticker())
        waiter = asyncio.ensure_future(layer.receive(name))
        plain = asyncio.ensure_future(layer.receive("plain.waits"))
        await asyncio.sleep(1.5)  # both wait past the layer's blocking_timeout (1 s)
        assert ticks >= 50, f"the loop ticked {ticks} times in 1.5 s while receives waited"
        await layer.send(name, {"type": "late"})
        await layer.send("plain.waits", {"type": "late.plain"})
        assert await asyncio.wait_for(waiter, 10) == {"type": "late"}
        assert await asyncio.wait_for(plain, 10) == {"type": "late.plain"}
        tick_task.cancel()

    run(scenario())


def test_cancelled_receive_loses_nothing(alias: str) -> None:
    """Channels cancels a consumer's receive when its client goes: the message stays."""

    async def scenario() -> None:
        layer = get_channel_layer(alias)
        name = await layer.new_channel()
        for channel in (name, "plain.cancel"):
            waiter = asyncio.ensure_future(layer.receive(channel))
            await asyncio.sleep(0.05)
            waiter.cancel()
            await layer.send(channel, {"type": "kept"})
            assert await asyncio.wait_for(layer.receive(channel), 10) == {"type": "kept"}

    run(scenario())


def test_channel_full_is_channels_own(alias: str) -> None:
    from channels.exceptions import ChannelFull

    async def scenario() -> None:
        layer = get_channel_layer(alias)
        for index in range(layer.capacity):
            await layer.send("full.room", {"type": "x", "i": index})
        with pytest.raises(ChannelFull):
            await layer.send("full.room", {"type": "x"})
        await layer.flush()

    run(scenario())
