"""Loads Channels' test communicators without ``channels.testing``'s package ``__init__``.

That ``__init__`` also imports ``ChannelsLiveServerTestCase``, which needs daphne 4; this project
installs daphne 1.x (the ASGI 1.0 interface server). The communicators need neither: the
package is registered with its real path and its ``__init__`` skipped, so
``channels.testing.websocket.WebsocketCommunicator`` is Channels' own class, unchanged.
"""

from __future__ import annotations

import os
import sys
import types

import channels

if "channels.testing" not in sys.modules:
    _package = types.ModuleType("channels.testing")
    _package.__path__ = [os.path.join(os.path.dirname(channels.__file__), "testing")]
    sys.modules["channels.testing"] = _package
