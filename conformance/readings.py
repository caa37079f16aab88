"""The two readings of the contract the suite applies: ASGI 1.0 (SPEC) and Channels 4.

Most clauses mean the same under both APIs. Where the two contracts differ on purpose, a clause
asks :func:`reading_of` for the rules of the layer it drives:

============================  ===============================  ================================
rule                          ASGI 1.0 (this project's SPEC)   Channels 4 (``channels.layers``)
============================  ===============================  ================================
longest name                  100 characters                   99 (``len(name) < 100``)
single-reader ``?`` names     yes                              no: ``?`` makes a name invalid
``!`` names are received by   their prefix, up to the ``!``    their full name
sending to ``"a!"``           ``TypeError``                    allowed (empty local part)
invalid message values        ``TypeError`` naming the key     refused with an exception (the
                              path; ``ValueError`` for ints     spec names no type and no path)
                              outside 64 bits
a bad name's ``TypeError``    quotes the name                  any text
listing a group's members     ``group_channels``               not in the API: membership is
                                                                checked by delivery
============================  ===============================  ================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from . import strategies


def _full_name(channel: str) -> str:
    return channel


def _inbox(channel: str) -> str:
    return channel[: channel.index("!") + 1] if "!" in channel else channel


@dataclass(frozen=True)
class Reading:
    """The name, message and receive rules a clause applies to one layer."""

    name: str
    #: The longest valid channel or group name.
    max_name: int
    #: Whether single-reader ``?`` names exist.
    single_reader: bool
    #: The name to pass to ``receive`` for messages sent to a channel.
    receive_key: Callable[[str], str]
    #: Whether errors must be this project's: TypeError/ValueError naming the key path for an
    #: invalid message, a TypeError quoting the name for a bad name.
    strict_errors: bool

    def channel_names(self) -> st.SearchStrategy[str]:
        """Valid channel names one can send to and receive from with any layer object."""
        if self.single_reader:
            return strategies.channel_names()
        # Channels 4: only the creating layer object receives a `!` name (new_channel's clauses)
        return strategies.group_names(self.max_name)

    def group_names(self) -> st.SearchStrategy[str]:
        return strategies.group_names(self.max_name)

    def invalid_channel_names(self) -> st.SearchStrategy[strategies.BadName]:
        if self.single_reader:
            return strategies.invalid_channel_names()
        return strategies.channels4_invalid_channel_names()

    def message_error(self, expected: type[Exception]) -> type[Exception]:
        """The exception an invalid message must raise under this reading."""
        return expected if self.strict_errors else Exception


ASGI1 = Reading(
    name="ASGI 1.0",
    max_name=strategies.MAX_NAME,
    single_reader=True,
    receive_key=_inbox,
    strict_errors=True,
)
CHANNELS4 = Reading(
    name="Channels 4",
    max_name=strategies.CHANNELS4_MAX_NAME,
    single_reader=False,
    receive_key=_full_name,
    strict_errors=False,
)


def reading_of(layer: Any) -> Reading:
    """The reading for ``layer``: Channels 4 for the suite's Channels 4 adapter, else ASGI 1.0."""
    return CHANNELS4 if getattr(layer, "conformance_reading", "") == "channels4" else ASGI1


def group_members(layer: Any, group: str) -> set[str] | None:
    """The members of ``group`` if the layer can list them (``group_channels``), else None."""
    lister = getattr(layer, "group_channels", None)
    return None if lister is None else set(lister(group))
