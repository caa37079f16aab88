"""``symmetric_encryption_keys`` on every backend: the core seals what ``encode`` returns and
opens what a receive takes, around the codec, whatever the engine."""

from __future__ import annotations

import asyncio

import pytest

from channels_core.crypto import SymmetricCipher
from channels_core.exceptions import ImproperlyConfigured, MalformedMessage
from channels_core.layer import BaseChannelLayer
from layers.inmemory import InMemoryChannelLayer
from tests.layers.conftest import Factory

OLD, NEW = "old-key-" * 4, b"new-key-" * 4


def _peer(
    make: Factory, layer: BaseChannelLayer, keys: list[str | bytes] | None
) -> BaseChannelLayer:
    """A layer on the same data as ``layer`` with other keys (for the in-memory layer, whose
    data no other object sees: the same object with its cipher swapped)."""
    if isinstance(layer, InMemoryChannelLayer):
        layer.cipher = SymmetricCipher(keys) if keys else None
        return layer
    return make(symmetric_encryption_keys=keys)


def test_bodies_are_sealed_and_keys_rotate(every_backend: Factory) -> None:
    sender = every_backend(symmetric_encryption_keys=[OLD])
    payload = sender.encode({"secret": "plans"})
    assert b"plans" not in payload and SymmetricCipher([OLD]).decrypt(payload)
    sender.send("c", {"n": 1})
    rotated = _peer(every_backend, sender, [NEW, OLD])  # new key first, old one still read
    assert rotated.receive(["c"]) == ("c", {"n": 1})
    rotated.send("c", {"n": 2})
    stale = _peer(every_backend, rotated, [OLD])  # a process that never got the new key
    with pytest.raises(MalformedMessage, match=r"'c'.*key not in symmetric_encryption_keys"):
        stale.receive(["c"])
    stale.send("c", {"n": 3})
    assert stale.receive(["c"]) == ("c", {"n": 3}), "the channel works on after a refused body"


def test_plaintext_is_refused_by_an_encrypting_reader(every_backend: Factory) -> None:
    plain = every_backend()
    plain.send("c", {"n": 1})
    sealed = _peer(every_backend, plain, [OLD])
    with pytest.raises(MalformedMessage, match="not an encrypted message"):
        sealed.receive(["c"])


def test_group_fan_out_and_async_receive_are_encrypted_too(every_backend: Factory) -> None:
    layer = every_backend(symmetric_encryption_keys=[OLD])
    members = [layer.new_channel("ws!") for _ in range(3)]
    for member in members:
        layer.group_add("room", member)
    layer.send_group("room", {"to": "all"})
    inbox = members[0][: members[0].index("!") + 1]

    async def receive_all() -> set[str]:
        got = set()
        for _ in members:
            channel, message = await layer.receive_async([inbox])
            assert message == {"to": "all"}
            got.add(channel)
        return got

    assert asyncio.run(receive_all()) == set(members)


@pytest.mark.parametrize("keys", [[], "one-key", [""], [1], {"k": 1}])
def test_bad_keys_are_refused_when_the_layer_is_built(keys: object) -> None:
    with pytest.raises(ImproperlyConfigured, match="symmetric_encryption_keys"):
        InMemoryChannelLayer(symmetric_encryption_keys=keys)
