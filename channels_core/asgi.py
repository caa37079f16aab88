"""The layer an ASGI 1.0 interface server serves: ``daphne channels_core.asgi:channel_layer``.

``channel_layer`` is the ``default`` alias of ``CHANNEL_LAYERS`` (``CHANNEL_LAYER_URL`` replaces
its backend), built when this module is imported, as Channels 1.x projects' ``asgi.py`` did.
daphne 1.x finds its ``twisted`` extension and waits on ``receive_twisted`` instead of polling.
"""

from __future__ import annotations

from .manager import channel_layers
from .settings import DEFAULT_CHANNEL_LAYER

#: The ``default`` layer (with its ``alias`` and ``router``; every other attribute is the layer's).
channel_layer = channel_layers[DEFAULT_CHANNEL_LAYER]
