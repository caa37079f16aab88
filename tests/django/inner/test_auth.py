"""message.user: http_session_user, channel_session_user and the transfer from HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import auth
from django.contrib.auth.models import User

from channels_core.django import auth as channel_auth
from channels_core.django.sessions import channel_and_http_session, http_session
from channels_core.message import Message
from channels_core.sessions import session_for_reply_channel

from .test_channels1_app import login_cookie
from .test_sessions import connect_message


def later_message(connect: Message, text: str = "hi") -> Message:
    """A websocket.receive of the same connection: no headers, no cookies."""
    content = {"reply_channel": connect.content["reply_channel"], "path": "/chat/", "text": text}
    return Message(content, "websocket.receive", connect.channel_layer)


class Chat:
    @channel_auth.channel_session_user_from_http
    def connect(self, message: Any) -> Any:
        return message.user

    @channel_auth.channel_session_user
    def receive(self, message: Any) -> Any:
        return message.user


def test_the_login_goes_from_the_http_session_to_the_channel_session(layer: Any) -> None:
    connect = connect_message(layer, login_cookie("carol"))
    chat = Chat()
    assert chat.connect(connect).username == "carol"
    assert chat.receive(later_message(connect)).username == "carol"
    kept = session_for_reply_channel(layer, connect.content["reply_channel"])
    assert kept[auth.SESSION_KEY] == str(User.objects.get(username="carol").pk)


def test_without_a_login_the_user_is_anonymous(layer: Any) -> None:
    connect = connect_message(layer)
    chat = Chat()
    assert not chat.connect(connect).is_authenticated
    assert not chat.receive(later_message(connect)).is_authenticated

    @channel_auth.http_session_user
    def http_user(message: Any) -> Any:
        return message.user

    assert not http_user(connect_message(layer)).is_authenticated
    assert http_user(connect_message(layer, login_cookie("dora"))).username == "dora"


def test_a_password_change_logs_the_connection_out(layer: Any) -> None:
    connect = connect_message(layer, login_cookie("erin"))
    chat = Chat()
    assert chat.connect(connect).is_authenticated
    user = User.objects.get(username="erin")
    user.set_unusable_password()  # another password hash: the session hash no longer matches
    user.save()
    assert not chat.receive(later_message(connect)).is_authenticated  # flushed, like Django


@pytest.mark.parametrize(
    "decorator",
    [
        http_session,
        channel_and_http_session,
        channel_auth.http_session_user,
        channel_auth.channel_session_user,
        channel_auth.channel_session_user_from_http,
        channel_auth.channel_and_http_session_user_from_http,
    ],
)
def test_a_call_without_a_message_names_the_decorator(decorator: Any) -> None:
    consumer = decorator(lambda *args: None)
    with pytest.raises(ValueError, match=rf"@{decorator.__name__} on "):
        consumer({"reply_channel": "r"})


def test_http_session_decorators_take_methods(layer: Any) -> None:
    class Consumer:
        @http_session
        def plain(self, message: Any) -> Any:
            return message.http_session

        @channel_and_http_session
        def kept(self, message: Any) -> Any:
            return message.http_session

    connect = connect_message(layer, login_cookie("fred"))
    assert Consumer().plain(connect)[auth.SESSION_KEY]
    assert Consumer().kept(connect)[auth.SESSION_KEY]
    assert Consumer().kept(later_message(connect))[auth.SESSION_KEY]  # hydrated from the key
