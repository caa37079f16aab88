"""A small Channels 1.x Django app, unchanged but for its imports (the bar of issue 13).

The Channels 1.x imports were::

    from django.http import HttpResponse
    from channels.auth import channel_session_user, http_session_user
    from channels.generic.websockets import JsonWebsocketConsumer
    from channels.handler import AsgiHandler, ViewConsumer
    from channels.routing import route, route_class
    from channels.security.websockets import allowed_hosts_only
    from channels.sessions import channel_and_http_session
"""

from django.http import HttpResponse

from channels_core.django.auth import channel_session_user, http_session_user
from channels_core.django.consumer import ViewConsumer
from channels_core.django.handler import AsgiHandler
from channels_core.django.security import allowed_hosts_only
from channels_core.django.sessions import channel_and_http_session
from channels_core.generic.websockets import JsonWebsocketConsumer
from channels_core.routing import route, route_class

# ruff: noqa: UP004, UP031  (written as Channels 1.x apps were: py2-era style, kept as is)


class ProfileConsumer(JsonWebsocketConsumer):
    """Only for logged-in users: the login comes over from the HTTP session on connect."""

    http_user = True
    strict_ordering = True
    groups = ["profiles"]

    def connect(self, message, **kwargs):
        if not message.user.is_authenticated:
            self.close()  # refuse the handshake
            return
        message.reply_channel.send({"accept": True})
        self.send({"hello": message.user.username})

    def receive(self, content, **kwargs):
        self.send({"user": self.message.user.username, "echo": content, "path": self.path})


class Visits(object):
    """Consumers written as decorated methods."""

    @allowed_hosts_only
    @http_session_user
    @channel_and_http_session
    def connect(self, message, **kwargs):
        message.reply_channel.send({"accept": True})
        message.reply_channel.send({"text": "user=%s" % message.user.username})

    @channel_and_http_session
    def receive(self, message, **kwargs):
        visits = message.http_session.get("visits", 0) + 1
        message.http_session["visits"] = visits
        message.reply_channel.send({"text": "visits=%d" % visits})

    @channel_session_user
    def disconnect(self, message, **kwargs):
        pass


visits = Visits()


def hello(message):
    response = HttpResponse("Hello world! You asked for %s" % message.content["path"])
    for chunk in AsgiHandler.encode_response(response):
        message.reply_channel.send(chunk)


channel_routing = [
    route("http.request", hello, path=r"^/hello/"),
    route("http.request", ViewConsumer()),
    route_class(ProfileConsumer, path=r"^/profile/$"),
    route("websocket.connect", visits.connect, path=r"^/visits/$"),
    route("websocket.receive", visits.receive, path=r"^/visits/$"),
    route("websocket.disconnect", visits.disconnect, path=r"^/visits/$"),
]
