"""allowed_hosts_only: only origins in ALLOWED_HOSTS reach the consumer."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from channels_core.django.security import allowed_hosts_only, origin_host

from .conftest import message, receive_on

# tests/django/settings.py: ALLOWED_HOSTS = ["example.com", ".allowed.org", "[::1]"]


def connect(layer: Any, origin: bytes | None) -> Any:
    headers = [[b"host", b"example.com"]]
    if origin is not None:
        headers.append([b"origin", origin])
    content = {
        "reply_channel": layer.new_channel("websocket.send!"),
        "path": "/secure/",
        "headers": headers,
        "order": 0,
    }
    return message(layer, content, "websocket.connect")


calls: list[Any] = []


@allowed_hosts_only
def consumer(message: Any) -> str:
    calls.append(message)
    return "called"


@pytest.mark.parametrize(
    "origin",
    [
        b"http://example.com",
        b"https://example.com:8443",
        b"https://chat.allowed.org",
        b"http://allowed.org",
        b"wss://a.b.allowed.org",
        b"http://[::1]:8000",
        b"HTTP://EXAMPLE.COM",
    ],
)
def test_allowed_origins_reach_the_consumer(layer: Any, origin: bytes) -> None:
    calls.clear()
    msg = connect(layer, origin)
    assert consumer(msg) == "called"
    assert calls == [msg]
    channel, _ = layer.receive([msg.content["reply_channel"].split("!")[0] + "!"])
    assert channel is None  # nothing sent on the consumer's behalf


@pytest.mark.parametrize(
    "origin",
    [
        None,  # missing
        b"",
        b"null",
        b"http://evil.com",
        b"http://example.com.evil.com",
        b"http://notallowed.org",
        b"ftp://example.com",
        b"example.com",  # no scheme
        b"http://example.com:notaport",
        b"http://",
        b"http://evil.com,x.allowed.org",  # two Origin headers joined by a proxy
        b"http://evil.com, http://x.allowed.org",
        b"http://evil.com@example.com",  # userinfo
        b"http://user:pw@example.com",
        b"http://example.com/path",
        b"http://example.com?q",
        b"http://exa mple.com",
    ],
)
def test_other_origins_are_rejected(layer: Any, origin: bytes | None) -> None:
    calls.clear()
    msg = connect(layer, origin)
    assert consumer(msg) is None
    assert calls == []
    assert receive_on(layer, msg.content["reply_channel"]) == {"accept": False}


def test_rejection_through_the_worker(layer: Any, worker: Any) -> None:
    good, bad = connect(layer, b"https://example.com"), connect(layer, b"https://evil.com")
    layer.send("websocket.connect", good.content)
    layer.send("websocket.connect", bad.content)
    assert receive_on(layer, good.content["reply_channel"]) == {"accept": True}
    assert receive_on(layer, bad.content["reply_channel"]) == {"accept": False}


def rejected(layer: Any, origin: bytes | None) -> bool:
    """True if the consumer refused ``origin`` (and the rejection reached the reply channel)."""
    msg = connect(layer, origin)
    if consumer(msg) == "called":
        return False
    # Read the rejection now: it also keeps the in-memory layer's reply inbox empty.
    assert receive_on(layer, msg.content["reply_channel"]) == {"accept": False}
    return True


def test_debug_with_empty_allowed_hosts_allows_local_origins(layer: Any) -> None:
    with override_settings(DEBUG=True, ALLOWED_HOSTS=[]):
        assert not rejected(layer, b"http://localhost:8000")
        assert not rejected(layer, b"http://127.0.0.1")
        assert rejected(layer, b"http://example.com")
    with override_settings(DEBUG=False, ALLOWED_HOSTS=[]):
        assert rejected(layer, b"http://localhost")


def test_wildcard_allows_any_origin_but_still_needs_one(layer: Any) -> None:
    with override_settings(ALLOWED_HOSTS=["*"]):
        assert not rejected(layer, b"https://anything.test")
        assert rejected(layer, None)


def test_origin_host() -> None:
    assert origin_host("https://Example.com:443") == "example.com"
    assert origin_host("http://[::1]:80") == "[::1]"
    assert origin_host("null") is None
    assert origin_host(None) is None


def test_two_origin_headers_are_rejected_even_if_both_are_allowed(layer: Any) -> None:
    calls.clear()
    msg = connect(layer, b"http://example.com")
    msg.content["headers"].append([b"origin", b"http://chat.allowed.org"])
    assert consumer(msg) is None
    assert calls == []
    assert receive_on(layer, msg.content["reply_channel"]) == {"accept": False}


def test_a_method_consumer_is_guarded_and_a_call_without_message_names_the_decorator(
    layer: Any,
) -> None:
    class Consumer:
        @allowed_hosts_only
        def connect(self, message: Any) -> str:
            return "called"

    assert Consumer().connect(connect(layer, b"http://example.com")) == "called"
    assert Consumer().connect(connect(layer, b"http://evil.com")) is None
    with pytest.raises(ValueError, match=r"@allowed_hosts_only on .*connect: called without"):
        Consumer().connect({"headers": []})
