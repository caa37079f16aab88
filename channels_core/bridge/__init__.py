"""An ASGI 3 bridge: any maintained ASGI server in front of a Channels 1.x-style app.

``BridgeApplication`` is an ASGI 3 application. It turns each HTTP request and WebSocket into
ASGI 1.0 channel messages (``http.request`` with its ``reply_channel`` and, for large bodies, a
``body_channel``; ``http.disconnect``; ``websocket.connect`` / ``receive`` / ``disconnect``) and
writes back what the app's consumers, running in ``channels-core runworker`` workers, send to the
reply channels. It plays the part daphne 1.x played:

* one ``!`` inbox per server process: every connection's reply channel is
  ``bridge.response.<client_id>!<token>``, and one receive loop (``receive_async``) fans the
  inbox out to the connections;
* backpressure as daphne 1.x: a full ``http.request`` channel answers 503 at once, a full
  ``websocket.connect`` rejects the handshake, a ``websocket.receive`` that stays full closes the
  socket with 1013.

Serve it with uvicorn, daphne 4 or hypercorn (one bridge process per server worker)::

    CHANNEL_LAYER_URL=redis://127.0.0.1:6379/0 uvicorn channels_core.bridge:application

:data:`application` uses the ``default`` alias of ``CHANNEL_LAYERS`` (``CHANNEL_LAYER_URL``
replaces its backend); build a :class:`BridgeApplication` yourself for other options.
"""

from __future__ import annotations

from .app import BridgeApplication
from .replies import ReplyDispatcher

__all__ = ["BridgeApplication", "ReplyDispatcher", "application"]

#: The bridge on the ``default`` layer alias (``CHANNEL_LAYER_URL`` picks its backend).
application = BridgeApplication()
