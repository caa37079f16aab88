"""The chat's routing: the page over HTTP, the rooms over WebSockets under ``/chat/<room>/``."""

from __future__ import annotations

from channels_core import include, route
from channels_core.routing import Entry

from . import consumers

channel_routing: list[Entry] = [
    route("http.request", consumers.page, method=r"^GET$", path=r"^/$"),
    route("http.request", consumers.not_found),
    include(
        [
            route("websocket.connect", consumers.join, path=r"^/(?P<room>[a-z0-9-]{1,40})/?$"),
            route("websocket.connect", consumers.refuse),
            route("websocket.receive", consumers.say),
            route("websocket.disconnect", consumers.leave),
        ],
        path=r"^/chat",
    ),
]
