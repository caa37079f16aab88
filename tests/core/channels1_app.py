"""A small Channels 1.x app, unchanged but for its imports (the bar of issue 13).

Written the way the Channels 1.x documentation wrote apps: generic WebSocket consumers (a chat
with groups, strict ordering and a channel session; a JSON demultiplexer with two streams; a
consumer refusing connections), a plain class whose methods are consumers decorated with
``channel_session`` / ``enforce_ordering``, an HTTP consumer routed on its path, and a route
added later with ``Router.add_route``. The Channels 1.x imports were::

    from channels import Channel
    from channels.exceptions import DenyConnection
    from channels.generic.websockets import (
        JsonWebsocketConsumer, WebsocketConsumer, WebsocketDemultiplexer)
    from channels.routing import include, route, route_class
    from channels.sessions import channel_session, enforce_ordering
"""

from channels_core import Channel
from channels_core.exceptions import DenyConnection
from channels_core.generic.websockets import (
    JsonWebsocketConsumer,
    WebsocketConsumer,
    WebsocketDemultiplexer,
)
from channels_core.routing import include, route, route_class
from channels_core.sessions import channel_session, enforce_ordering

# ruff: noqa: UP004, UP031  (written as Channels 1.x apps were: py2-era style, kept as is)


class ChatConsumer(WebsocketConsumer):
    channel_session = True
    strict_ordering = True

    def connection_groups(self, **kwargs):
        return ["chat-%s" % kwargs["room"]]

    def connect(self, message, **kwargs):
        message.channel_session["nick"] = "guest-%s" % message.reply_channel.name[-4:]
        message.channel_session["lines"] = 0
        message.reply_channel.send({"accept": True})

    def receive(self, text=None, bytes=None, **kwargs):
        self.message.channel_session["lines"] += 1
        self.group_send(
            "chat-%s" % kwargs["room"],
            "%s: %s (#%d)"
            % (self.message.channel_session["nick"], text, self.message.channel_session["lines"]),
        )

    def disconnect(self, message, **kwargs):
        Channel("chat.log").send({"left": message.channel_session["nick"], "room": kwargs["room"]})


class EchoConsumer(JsonWebsocketConsumer):
    def connect(self, message, multiplexer, **kwargs):
        multiplexer.send({"status": "ready"})

    def receive(self, content, multiplexer, **kwargs):
        multiplexer.send({"echo": content, "path": self.path})

    def disconnect(self, message, multiplexer, **kwargs):
        Channel("chat.log").send({"stream_closed": multiplexer.stream})


class CounterConsumer(JsonWebsocketConsumer):
    channel_session = True

    def receive(self, content, multiplexer, **kwargs):
        if "rude" in content:
            self.send({"not": "allowed under a demultiplexer"})
        total = self.message.channel_session.get("total", 0) + content["add"]
        self.message.channel_session["total"] = total
        multiplexer.send({"total": total})


class Demultiplexer(WebsocketDemultiplexer):
    consumers = {"echo": EchoConsumer, "counter": CounterConsumer}


class PrivateConsumer(WebsocketConsumer):
    def connect(self, message, **kwargs):
        self.close()  # refused: the handshake never completes


class Presence(object):
    """Consumers written as methods of one object, decorated like functions."""

    def __init__(self):
        self.log = []

    @enforce_ordering
    def connect(self, message, **kwargs):
        message.channel_session["seen"] = 0
        message.reply_channel.send({"accept": True})

    @enforce_ordering
    def receive(self, message, **kwargs):
        message.channel_session["seen"] += 1
        self.log.append((message.reply_channel.name, message["order"], message["text"]))
        message.reply_channel.send({"text": "seen %d" % message.channel_session["seen"]})

    @channel_session
    def disconnect(self, message, **kwargs):
        Channel("chat.log").send({"presence_seen": message.channel_session["seen"]})


presence = Presence()


def hello(message, name):
    message.reply_channel.send(
        {"status": 200, "headers": [], "content": ("hello %s" % name).encode("utf-8")}
    )


def members_only(message):
    raise DenyConnection


def not_found(message):
    message.reply_channel.send({"status": 404, "headers": [], "content": b"not found"})


channel_routing = [
    route("http.request", hello, path=r"^/hello/(?P<name>[^/]+)/$"),
    route_class(ChatConsumer, path=r"^/chat/(?P<room>\w+)/$"),
    Demultiplexer.as_route(path=r"^/multi/$"),
    PrivateConsumer.as_route(path=r"^/private/$"),
    route("websocket.connect", members_only, path=r"^/members/$"),
    include(
        [
            route("websocket.connect", presence.connect),
            route("websocket.receive", presence.receive),
            route("websocket.disconnect", presence.disconnect),
        ],
        path=r"^/presence",
    ),
]

#: added at start-up with ``channel_layers["default"].router.add_route(...)``
fallback_route = route("http.request", not_found)
