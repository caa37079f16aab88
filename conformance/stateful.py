"""The stateful test: random operation sequences on the layer and the model, compared each step.

:func:`machine_for` builds a ``RuleBasedStateMachine`` bound to a :class:`Context`. Every example
gets a fresh layer (a new unique prefix, ``capacity=3`` so overflows are frequent, default expiry)
and a fresh :class:`~conformance.model.ContractModel`; each rule performs one operation on both
and asserts the layer did what the model allows: the message received (and from which channel),
per-channel order, ``ChannelFull`` exactly when the model is full, ``TypeError``/``ValueError`` for
invalid input with nothing stored, group membership after add/discard/flush.
Shrunk counterexamples read as a script of layer calls (rule names mirror the API; ``note()``
prints what the layer returned and what the model expected).
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from . import strategies
from .context import Context, unique_prefix
from .model import ContractModel, ModelChannelFull
from .readings import reading_of

CAPACITY = 3
#: The model's capacity for a (Channels 4) layer without a capacity option.
UNBOUNDED = 10**9
#: Process-specific inboxes (and their full names) get room instead. SPEC §5 lets a receiving
#: process move what reaches its inbox into local per-name buffers, after which the inbox takes
#: more: when a ``!`` inbox is full then depends on when the layer drained it, not on the sequence
#: of calls alone, so no model can predict it. The ``process.capacity-on-inbox`` example clause
#: checks their capacity instead; here they are checked for order, at-most-once and groups.
PROCESS_CAPACITY = 1000
#: Names the machine starts from: plain, single-reader and hand-built process-specific ones.
SEED_CHANNELS = ("a", "b.c", "reply?x1", "hand!made", "hand!other")
GROUPS = ("g1", "g2", "room.x")
NEW_CHANNEL_PATTERNS = ("r?", "w.s!", "p!")
#: Under the Channels 4 reading: no ``?`` names, and ``!`` names only from ``new_channel`` (only
#: the creating layer object receives them, by full name).
CHANNELS4_SEED_CHANNELS = ("a", "b.c")
#: The one kind of invalid name of the ASGI 1.0 reading that Channels 4 accepts.
CHANNELS4_VALID = "ends with '!' when sent to"


class LayerModelMachine(RuleBasedStateMachine):
    """Drives a layer and the model with the same operations; see the module docstring."""

    context: Context  # set by machine_for()
    asgi1: bool  # set by machine_for(): the layer follows the ASGI 1.0 reading
    bounded: bool  # set by machine_for(): the layer takes a capacity option
    channels = Bundle("channels")

    def __init__(self) -> None:
        super().__init__()
        options: dict[str, Any] = {"expiry": 60, "group_expiry": 86400}
        if self.bounded:
            options["capacity"] = CAPACITY
        if self.asgi1:
            options["channel_capacity"] = {re.compile(r".*!"): PROCESS_CAPACITY}
        self.layer: Any = self.context.layer(prefix=unique_prefix(), **options)
        self.reading = reading_of(self.layer)
        #: Channels 4: the machine gives ``!`` inboxes no room of their own (``channel_capacity``
        #: is a clause of its own), so a ``!`` send the model finds over capacity may be
        #: accepted (the receiving process buffered what it took) or refused: either is kept.
        self.process_capacity_known = self.reading.single_reader
        capacity = CAPACITY if self.bounded else UNBOUNDED
        self.model = ContractModel(
            capacity=capacity,
            process_capacity=PROCESS_CAPACITY if self.process_capacity_known else capacity,
            receive_key=self.reading.receive_key,
        )
        self.has_groups = "groups" in self.layer.extensions
        self.has_flush = "flush" in self.layer.extensions
        self.lists_groups = self.has_groups and hasattr(self.layer, "group_channels")

    def teardown(self) -> None:
        self.context.release(self.layer)

    # -- channels -------------------------------------------------------------------------------

    @initialize(target=channels)
    def seed_channels(self) -> Any:
        return multiple(*(SEED_CHANNELS if self.reading.single_reader else CHANNELS4_SEED_CHANNELS))

    @rule(target=channels, pattern=st.sampled_from(NEW_CHANNEL_PATTERNS))
    def new_channel(self, pattern: str) -> str:
        if not self.reading.single_reader:
            pattern = pattern.replace("?", "!")
        name = self.layer.new_channel(pattern)
        note(f"new_channel({pattern!r}) -> {name!r}")
        assert name not in self.model.queues, f"new_channel returned {name!r}, already in use"
        if self.reading.single_reader:  # Channels 4 layers may ignore the prefix
            assert name.startswith(pattern[:-1]), f"{name!r} does not extend {pattern!r}"
        return name

    @rule(channel=channels, message=strategies.messages(allow_nan=False, max_leaves=4))
    def send(self, channel: str, message: dict[str, Any]) -> None:
        try:
            self.model.send(channel, message)
            expect_full = False
        except ModelChannelFull:
            expect_full = True
        try:
            self.layer.send(channel, message)
        except self.layer.ChannelFull:
            pending = self.model_pending(channel)
            note(f"send({channel!r}) raised ChannelFull (model pending: {pending})")
            assert expect_full, f"ChannelFull on {channel!r}, but it holds only {pending}"
            return
        if expect_full and "!" in channel and not self.process_capacity_known:
            self.model.store(channel, message)
            return
        assert not expect_full, f"send to {channel!r} accepted a message beyond its capacity"

    def model_pending(self, channel: str) -> int:
        return self.model.pending(channel[: channel.index("!") + 1] if "!" in channel else channel)

    @rule(channel=channels)
    def receive(self, channel: str) -> None:
        self.check_receive([self.reading.receive_key(channel)])

    @precondition(lambda self: self.reading.single_reader)  # Channels 4: one channel a receive
    @rule(asked=st.lists(channels, min_size=2, max_size=3))
    def receive_any(self, asked: list[str]) -> None:
        self.check_receive([self.reading.receive_key(channel) for channel in asked])

    def check_receive(self, names: list[str]) -> None:
        allowed = self.model.candidates(names)
        channel, message = self.layer.receive(names, block=False)
        note(f"receive({names!r}) -> {(channel, message)!r}; model allows {allowed!r}")
        if channel is None:
            assert not allowed, f"receive({names!r}) returned nothing; pending: {allowed!r}"
            return
        assert channel in allowed, (
            f"receive({names!r}) returned a message from {channel!r}; "
            f"the model has pending heads only on {sorted(allowed)!r}"
        )
        assert message == allowed[channel], (
            f"receive({names!r}) from {channel!r} returned {message!r}, "
            f"but the next message in send order is {allowed[channel]!r}"
        )
        self.model.take(channel)

    # -- groups ---------------------------------------------------------------------------------

    @precondition(lambda self: self.has_groups)
    @rule(group=st.sampled_from(GROUPS), channel=channels)
    def group_add(self, group: str, channel: str) -> None:
        self.layer.group_add(group, channel)
        self.model.group_add(group, channel)

    @precondition(lambda self: self.has_groups)
    @rule(group=st.sampled_from(GROUPS), channel=channels)
    def group_discard(self, group: str, channel: str) -> None:
        self.layer.group_discard(group, channel)
        self.model.group_discard(group, channel)

    @precondition(lambda self: self.lists_groups)
    @rule(group=st.sampled_from(GROUPS))
    def group_channels(self, group: str) -> None:
        members = set(self.layer.group_channels(group))
        note(f"group_channels({group!r}) -> {sorted(members)!r}")
        expected = self.model.group_channels(group)
        assert members == expected, (
            f"group {group!r} has {sorted(members)}, model {sorted(expected)}"
        )

    @precondition(lambda self: self.has_groups)
    @rule(group=st.sampled_from(GROUPS), message=strategies.messages(allow_nan=False, max_leaves=3))
    def send_group(self, group: str, message: dict[str, Any]) -> None:
        skipped = self.model.send_group(group, message)
        note(f"send_group({group!r}): model skips full members {skipped!r}")
        try:
            self.layer.send_group(group, message)
        except self.layer.ChannelFull as error:
            raise AssertionError(f"send_group({group!r}) raised ChannelFull: {error}") from error

    @invariant()
    def groups_agree(self) -> None:
        """After every step, each group's members are what the model says."""
        if not self.lists_groups:
            return
        for group in GROUPS:
            members = set(self.layer.group_channels(group))
            expected = self.model.group_channels(group)
            assert members == expected, (
                f"group {group!r} has members {sorted(members)}, the model {sorted(expected)}"
            )

    @precondition(lambda self: self.has_flush)
    @rule()
    def flush(self) -> None:
        self.layer.flush()
        self.model.flush()

    # -- invalid input: rejected, nothing stored --------------------------------------------------

    @rule(bad=strategies.invalid_channel_names(), message=st.just({"x": 1}))
    def send_to_invalid_name(self, bad: strategies.BadName, message: dict[str, Any]) -> None:
        if not self.asgi1 and bad.rule == CHANNELS4_VALID:
            return  # Channels 4 lets one send to "a!" (its longest names: names.max-length)
        try:
            self.layer.send(bad.value, message)
        except TypeError:
            return
        raise AssertionError(f"send to {bad!r} was accepted")

    @rule(channel=channels, bad=strategies.invalid_messages())
    def send_invalid_message(self, channel: str, bad: strategies.BadMessage) -> None:
        try:
            self.layer.send(channel, bad.value)
        except self.reading.message_error(bad.error):
            return
        except self.layer.ChannelFull:
            # A layer may check capacity before validating; nothing was stored either way.
            return
        raise AssertionError(f"send({channel!r}, {bad!r}) was accepted")


def machine_for(context: Context) -> type[LayerModelMachine]:
    """A state machine class bound to ``context`` (hypothesis instantiates it per example)."""
    probe = context.layer()
    asgi1 = reading_of(probe).single_reader
    bounded = "capacity" in getattr(probe, "takes", {"capacity"})  # Channels 4: may have none
    context.release(probe)
    attributes = {"context": context, "asgi1": asgi1, "bounded": bounded}
    return type("LayerVsModel", (LayerModelMachine,), attributes)
