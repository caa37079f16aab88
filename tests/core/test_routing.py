"""Routing: filters anchored at the start, named groups as kwargs, include, first match wins."""

from __future__ import annotations

import re
from typing import Any

import pytest

from channels_core import ImproperlyConfigured, Message, include, route, route_class
from channels_core.generic import BaseConsumer
from channels_core.routing import Router, describe_routing


def consumer_a(message: Any, **kwargs: Any) -> None: ...


def consumer_b(message: Any, **kwargs: Any) -> None: ...


def consumer_c(message: Any, **kwargs: Any) -> None: ...


def msg(channel: str, **content: Any) -> Message:
    return Message(content, channel, channel_layer=None)


def test_plain_route_matches_its_channel_only() -> None:
    router = Router([route("http.request", consumer_a)])
    assert router.channels == {"http.request"}
    assert router.match(msg("http.request", path="/")) == (consumer_a, {})
    assert router.match(msg("websocket.connect", path="/")) is None


def test_filters_are_anchored_at_the_start_with_or_without_caret() -> None:
    for pattern in (r"/chat/", r"^/chat/"):
        router = Router([route("http.request", consumer_a, path=pattern)])
        assert router.match(msg("http.request", path="/chat/room")) == (consumer_a, {})
        assert router.match(msg("http.request", path="/x/chat/room")) is None


def test_dollar_anchors_the_end() -> None:
    router = Router([route("http.request", consumer_a, path=r"^/a$")])
    assert router.match(msg("http.request", path="/a")) is not None
    assert router.match(msg("http.request", path="/ab")) is None


def test_named_groups_become_kwargs_from_every_filter() -> None:
    router = Router(
        [
            route(
                "http.request",
                consumer_a,
                path=r"^/book/(?P<book_id>\d+)$",
                method=r"^(?P<verb>GET|HEAD)$",
            )
        ]
    )
    match = router.match(msg("http.request", path="/book/42", method="GET"))
    assert match == (consumer_a, {"book_id": "42", "verb": "GET"})
    assert router.match(msg("http.request", path="/book/42", method="POST")) is None


def test_missing_or_non_text_field_does_not_match() -> None:
    router = Router([route("http.request", consumer_a, path=r"^/")])
    assert router.match(msg("http.request")) is None
    assert router.match(msg("http.request", path=3)) is None
    assert router.match(msg("http.request", path=None)) is None


def test_a_bytes_field_is_matched_as_utf8_text() -> None:
    # Servers and tests of the Channels 1.x era send the http.request path as bytes.
    router = Router([route("http.request", consumer_a, path=r"^/caf\u00e9/(?P<n>\d+)$")])
    match = router.match(msg("http.request", path="/café/7".encode()))
    assert match == (consumer_a, {"n": "7"})
    assert isinstance(match[1]["n"], str)


def test_undecodable_bytes_match_no_route() -> None:
    router = Router([route("http.request", consumer_a, path=r"^/")])
    assert router.match(msg("http.request", path=b"/\xff\xfe")) is None


def test_include_strips_a_bytes_prefix_and_the_inner_routes_see_text() -> None:
    router = Router(
        [
            include(
                [route("websocket.connect", consumer_a, path=r"^/(?P<room>\w+)/$")], path="^/chat"
            )
        ]
    )
    assert router.match(msg("websocket.connect", path=b"/chat/lobby/")) == (
        consumer_a,
        {"room": "lobby"},
    )
    assert router.match(msg("websocket.connect", path=b"/chat\xff/lobby/")) is None


def test_a_bytes_pattern_is_accepted_like_text() -> None:
    router = Router([route("http.request", consumer_a, path=rb"^/a$")])
    assert router.match(msg("http.request", path="/a")) == (consumer_a, {})


def test_add_route_appends_after_every_existing_entry() -> None:
    router = Router([route("http.request", consumer_a, path=r"^/a")])
    router.add_route(route("http.request", consumer_b))
    router.add_route(route("websocket.connect", consumer_c))
    assert router.channels == {"http.request", "websocket.connect"}
    assert router.match(msg("http.request", path="/a")) == (consumer_a, {})
    assert router.match(msg("http.request", path="/b")) == (consumer_b, {})
    assert router.match(msg("websocket.connect", path="/")) == (consumer_c, {})
    with pytest.raises(ImproperlyConfigured, match=r"Router.add_route: routing\[0\]"):
        router.add_route(consumer_a)


class RoomConsumer(BaseConsumer):
    method_mapping = {"websocket.connect": "connect"}

    def connect(self, message: Any, **kwargs: Any) -> None: ...


def test_as_route_routes_the_class_or_a_subclass_with_attributes() -> None:
    plain = RoomConsumer.as_route(path=r"^/rooms/(?P<room>\w+)")
    assert plain.consumer is RoomConsumer
    router = Router([plain])
    assert router.match(msg("websocket.connect", path="/rooms/x")) == (RoomConsumer, {"room": "x"})
    custom = RoomConsumer.as_route(attrs={"channel_session": True}, path=r"^/s")
    assert custom.consumer is not RoomConsumer
    assert issubclass(custom.consumer, RoomConsumer)
    assert custom.consumer.__name__ == "RoomConsumer"
    assert custom.consumer.channel_session is True
    assert RoomConsumer.channel_session is False
    with pytest.raises(ImproperlyConfigured, match=r"as_route\(attrs=\.\.\.\): must be a dict"):
        RoomConsumer.as_route(attrs=[("channel_session", True)])  # type: ignore[arg-type]


def test_positional_groups_are_rejected_with_a_clear_error() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"unnamed \(positional\) group"):
        route("http.request", consumer_a, path=r"^/book/(\d+)$")
    with pytest.raises(ImproperlyConfigured, match="unnamed"):
        include([route("http.request", consumer_a)], path=r"^/(v1|v2)")
    # non-capturing groups are fine
    route("http.request", consumer_a, path=r"^/(?:v1|v2)/(?P<rest>.*)$")


def test_bad_regex_and_bad_consumer_are_clear_errors() -> None:
    with pytest.raises(ImproperlyConfigured, match="not a valid regex"):
        route("http.request", consumer_a, path=r"^/(")
    with pytest.raises(ImproperlyConfigured, match="not callable"):
        route("http.request", 42)  # type: ignore[arg-type]
    with pytest.raises(ImproperlyConfigured, match="regex string"):
        route("http.request", consumer_a, path=5)
    with pytest.raises(TypeError, match="contains"):
        route("bad name", consumer_a)


def test_compiled_regex_filters_are_accepted() -> None:
    router = Router([route("a", consumer_a, path=re.compile(r"(?P<x>\w+)"))])
    assert router.match(msg("a", path="abc")) == (consumer_a, {"x": "abc"})


def test_consumer_by_dotted_path() -> None:
    router = Router([route("a", "tests.core.test_routing.consumer_b")])
    assert router.match(msg("a")) == (consumer_b, {})


def test_first_match_wins() -> None:
    router = Router(
        [
            route("http.request", consumer_a, path=r"^/a"),
            route("http.request", consumer_b, path=r"^/"),
            route("http.request", consumer_c),
        ]
    )
    assert router.match(msg("http.request", path="/abc"))[0] is consumer_a  # type: ignore[index]
    assert router.match(msg("http.request", path="/b"))[0] is consumer_b  # type: ignore[index]
    assert router.match(msg("http.request", path="b"))[0] is consumer_c  # type: ignore[index]


def test_include_strips_the_matched_prefix() -> None:
    inner = [route("websocket.connect", consumer_a, path=r"^/(?P<room>\w+)/$")]
    router = Router([include(inner, path=r"^/chat")])
    assert router.channels == {"websocket.connect"}
    assert router.match(msg("websocket.connect", path="/chat/lobby/")) == (
        consumer_a,
        {"room": "lobby"},
    )
    # Without the prefix, the inner route does not match (it sees the field unstripped).
    assert router.match(msg("websocket.connect", path="/lobby/")) is None
    assert router.match(msg("websocket.connect", path="/other/chat/lobby/")) is None


def test_include_prefix_groups_are_passed_on_and_nesting_works() -> None:
    innermost = [route("a", consumer_a, path=r"^/(?P<page>\d+)$")]
    middle = [include(innermost, path=r"^/(?P<section>[a-z]+)")]
    router = Router([include(middle, path=r"^/v(?P<version>\d)")])
    assert router.match(msg("a", path="/v2/news/7")) == (
        consumer_a,
        {"version": "2", "section": "news", "page": "7"},
    )


def test_include_does_not_mutate_the_message() -> None:
    router = Router([include([route("a", consumer_a, path=r"^/x$")], path=r"^/p")])
    message = msg("a", path="/p/x")
    assert router.match(message) is not None
    assert message.content["path"] == "/p/x"


def test_first_match_wins_across_includes() -> None:
    router = Router(
        [
            include([route("a", consumer_a, path=r"^/x")], path=r"^/p"),
            route("a", consumer_b, path=r"^/p/x"),
            route("a", consumer_c),
        ]
    )
    assert router.match(msg("a", path="/p/x"))[0] is consumer_a  # type: ignore[index]
    assert router.match(msg("a", path="/p/y"))[0] is consumer_c  # type: ignore[index]


def test_include_by_dotted_path() -> None:
    router = Router([include("tests.core.test_routing.INNER", path=r"^/in")])
    assert router.match(msg("a", path="/in/z")) == (consumer_a, {})


INNER = [route("a", consumer_a, path=r"^/z")]


def test_process_specific_route_matches_full_names() -> None:
    router = Router([route("ws.send!", consumer_a)])
    assert router.channels == {"ws.send!"}
    assert router.match(msg("ws.send!abc123")) == (consumer_a, {})


def test_routing_must_be_a_list_of_routes() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"routing\[1\]"):
        Router([route("a", consumer_a), ("b", consumer_b)])
    with pytest.raises(ImproperlyConfigured, match="must be a list"):
        Router(42)
    with pytest.raises(ImproperlyConfigured, match="cannot import"):
        Router("no_such_module_xyz.routing")


def test_dict_routing_is_channel_to_consumer() -> None:
    router = Router({"a": consumer_a, "b": consumer_b})
    assert router.match(msg("b")) == (consumer_b, {})


class Chat(BaseConsumer):
    method_mapping = {"websocket.connect": "connect", "websocket.receive": "receive"}
    calls: list[tuple[str, dict[str, Any]]] = []

    def connect(self, message: Any, **kwargs: Any) -> None:
        self.calls.append(("connect", kwargs))

    def receive(self, message: Any, **kwargs: Any) -> None:
        self.calls.append(("receive", kwargs))


def test_route_class_dispatches_by_channel() -> None:
    Chat.calls.clear()
    router = Router([route_class(Chat, path=r"^/chat/(?P<room>\w+)")])
    assert router.channels == {"websocket.connect", "websocket.receive"}
    for channel in ("websocket.connect", "websocket.receive"):
        message = msg(channel, path="/chat/lobby")
        consumer, kwargs = router.match(message)  # type: ignore[misc]
        consumer(message, **kwargs)
    assert Chat.calls == [("connect", {"room": "lobby"}), ("receive", {"room": "lobby"})]
    assert router.match(msg("websocket.connect", path="/other")) is None


def test_route_class_needs_channel_names() -> None:
    with pytest.raises(ImproperlyConfigured, match="channel_names"):
        route_class(object)
    with pytest.raises(ImproperlyConfigured, match="empty"):
        route_class(BaseConsumer)


def test_describe_routing_lists_nested_routes() -> None:
    lines = list(
        describe_routing([include([route("a", consumer_a)], path="^/p"), route("b", consumer_b)])
    )
    assert lines[0].startswith("include([...], path='^/p')")
    assert "consumer_a" in lines[1] and lines[1].startswith("    ")
    assert "consumer_b" in lines[2]
