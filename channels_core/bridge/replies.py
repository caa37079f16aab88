"""One ``!`` inbox per server process, and the one receive loop that fans it out to connections.

Every connection of a bridge gets a reply channel under the same process-specific prefix
(``bridge.response.<client_id>!<token>``), so the whole process has one inbox on the layer, as
daphne 1.x had. One task waits on that inbox with ``receive_async`` and hands each message to
the mailbox of its connection; a message for a connection that has gone is dropped (counted in
:attr:`ReplyDispatcher.unrouted`), like daphne 1.x did.

A mailbox holds at most ``mailbox_size`` messages: a connection that does not keep up (a
WebSocket client that stopped reading) loses what does not fit (counted in
:attr:`ReplyDispatcher.overflowed`) instead of holding up the loop for every other connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..exceptions import LayerClosed
from ..layer import random_token
from ..names import inbox_name

logger = logging.getLogger(__name__)

#: The ``new_channel`` pattern of the process inbox (reply channels of HTTP and WebSocket alike).
REPLY_PATTERN = "bridge.response!"
#: Seconds the loop waits after a layer error before it receives again.
ERROR_PAUSE = 1.0

Reply = dict[str, Any]


class ReplyDispatcher:
    """The process inbox's receive loop and the connections' mailboxes (one event loop)."""

    def __init__(self, layer: Any, mailbox_size: int = 1000) -> None:
        self.layer = layer
        self.mailbox_size = mailbox_size
        #: The inbox prefix every reply channel of this process starts with (ends with ``!``).
        self.inbox = inbox_name(layer.new_channel(REPLY_PATTERN))
        self._mailboxes: dict[str, asyncio.Queue[Reply]] = {}
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.unrouted = 0
        self.overflowed = 0

    # -- connections --------------------------------------------------------------------------

    def open(self) -> tuple[str, asyncio.Queue[Reply]]:
        """A new reply channel and its mailbox; starts the receive loop if it is not running."""
        channel = self.inbox + random_token()
        mailbox: asyncio.Queue[Reply] = asyncio.Queue(self.mailbox_size)
        self._mailboxes[channel] = mailbox
        self.start()
        return channel, mailbox

    def close(self, channel: str) -> None:
        """Forget a connection: later messages for its reply channel are dropped."""
        self._mailboxes.pop(channel, None)

    @property
    def connections(self) -> int:
        return len(self._mailboxes)

    # -- the loop -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the receive loop on the running event loop, unless it runs already."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="channels-core-bridge-replies"
            )

    async def stop(self) -> None:
        """Stop the receive loop (a message it had taken stays parked on the layer)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        inbox = [self.inbox]
        while True:
            try:
                channel, message = await self.layer.receive_async(inbox)
            except asyncio.CancelledError:
                raise
            except LayerClosed:
                logger.info("bridge: the channel layer was closed; the reply loop stops")
                return
            except Exception:
                logger.exception("bridge: receiving replies on %s failed; retrying", self.inbox)
                await asyncio.sleep(ERROR_PAUSE)
                continue
            if channel is not None:
                self.dispatch(channel, message)

    def dispatch(self, channel: str, message: Reply) -> None:
        """Hand ``message`` to the mailbox of ``channel``'s connection (or drop it)."""
        mailbox = self._mailboxes.get(channel)
        if mailbox is None:
            self.unrouted += 1
            logger.debug("bridge: message for %s, which is not connected: dropped", channel)
            return
        try:
            mailbox.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed += 1
            logger.warning("bridge: %s is not reading its replies: one dropped", channel)
        else:
            self.delivered += 1
