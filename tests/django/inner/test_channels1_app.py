"""The Channels 1.x Django app of ``tests/django/channels1_app.py`` end to end through a
worker: the login carried from the HTTP session into the connection, sessions on method
consumers, ``allowed_hosts_only``, Django views answering a bytes path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore

from channels_core.manager import ChannelLayerWrapper
from tests.core.corekit import running_worker

from .. import channels1_app
from .conftest import body_of, http_request, receive_on, response


@pytest.fixture
def app(layer: ChannelLayerWrapper) -> Iterator[ChannelLayerWrapper]:
    """A worker running the 1.x app's routing on the test's layer."""
    wrapper = ChannelLayerWrapper(layer.channel_layer, "default", channels1_app.channel_routing)
    with running_worker(wrapper, threads=2) as worker:
        yield wrapper
    assert worker.stats["failed"] == 0 and worker.stats["dropped"] == 0


def login_cookie(username: str) -> bytes:
    """The session cookie of a browser logged in as ``username`` (as the login view sets it)."""
    user = User.objects.create_user(username)
    session = SessionStore()
    session[auth.SESSION_KEY] = str(user.pk)
    session[auth.BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[auth.HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()


def websocket(layer: Any, path: str, cookie: bytes | None = None) -> dict[str, Any]:
    headers = [[b"host", b"example.com"], [b"origin", b"https://example.com"]]
    if cookie is not None:
        headers.append([b"cookie", cookie])
    return {
        "reply_channel": layer.new_channel("websocket.send!"),
        "path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }


def send(layer: Any, channel: str, connection: dict[str, Any], order: int, **fields: Any) -> None:
    content = {**connection, "order": order, **fields}
    if channel != "websocket.connect":
        del content["headers"], content["query_string"]  # only connect carries them
    layer.send(channel, content)


@pytest.mark.timeout(60)
def test_the_django_side_of_a_channels1_app_runs_unchanged(app: Any) -> None:
    layer = app
    # views through a bytes path, and a consumer answering with AsgiHandler.encode_response
    request = http_request(layer, "/echo/", query_string=b"a=1")
    request["path"] = b"/echo/"
    layer.send("http.request", request)
    first, chunks = response(layer, request["reply_channel"])
    assert json.loads(body_of(first, chunks))["GET"] == {"a": "1"}
    hello = http_request(layer, "/hello/there")
    layer.send("http.request", hello)
    first, chunks = response(layer, hello["reply_channel"])
    assert body_of(first, chunks) == b"Hello world! You asked for /hello/there"

    # http_user: the login of the HTTP session follows the connection
    alice = websocket(layer, "/profile/", login_cookie("alice"))
    send(layer, "websocket.receive", alice, 1, text=json.dumps({"n": 1}))  # early: waits
    send(layer, "websocket.connect", alice, 0)
    reply = alice["reply_channel"]
    assert receive_on(layer, reply) == {"accept": True}
    assert json.loads(receive_on(layer, reply)["text"]) == {"hello": "alice"}
    assert json.loads(receive_on(layer, reply)["text"]) == {
        "user": "alice",
        "echo": {"n": 1},
        "path": "/profile/",
    }
    send(layer, "websocket.disconnect", alice, 2, code=1000)

    # an anonymous visitor is refused from connect
    anonymous = websocket(layer, "/profile/")
    send(layer, "websocket.connect", anonymous, 0)
    assert receive_on(layer, anonymous["reply_channel"]) == {"close": True}

    # decorated methods: allowed_hosts_only, http_session_user, channel_and_http_session
    bob = websocket(layer, "/visits/", login_cookie("bob"))
    send(layer, "websocket.connect", bob, 0)
    assert receive_on(layer, bob["reply_channel"]) == {"accept": True}
    assert receive_on(layer, bob["reply_channel"]) == {"text": "user=bob"}
    for order in (1, 2):
        send(layer, "websocket.receive", bob, order, text="hi")
        assert receive_on(layer, bob["reply_channel"]) == {"text": f"visits={order}"}
    send(layer, "websocket.disconnect", bob, 3, code=1000)
    evil = websocket(layer, "/visits/", login_cookie("eve"))
    evil["headers"][1] = [b"origin", b"https://evil.com,https://example.com"]
    send(layer, "websocket.connect", evil, 0)
    assert receive_on(layer, evil["reply_channel"]) == {"accept": False}
