"""AsgiHandler: encode_response, and Django views served end to end through the worker."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.http import FileResponse, HttpResponse, StreamingHttpResponse

from channels_core import codec
from channels_core.django.consumer import ViewConsumer
from channels_core.django.handler import CHUNK_SIZE, AsgiHandler
from channels_core.exceptions import ChannelFull

from ..views import BIG_SIZE
from .conftest import body_of, http_request, message, response

MIB = 1024 * 1024


def test_encode_small_response() -> None:
    resp = HttpResponse(b"hello", status=201, content_type="text/plain")
    resp["X-Thing"] = "yes"
    resp.set_cookie("c", "v")
    messages = list(AsgiHandler.encode_response(resp))
    assert len(messages) == 1
    (first,) = messages
    assert first["status"] == 201
    assert first["content"] == b"hello"
    assert first["more_content"] is False
    assert [b"content-type", b"text/plain"] in first["headers"]
    assert [b"x-thing", b"yes"] in first["headers"]
    cookies = [value for name, value in first["headers"] if name == b"set-cookie"]
    assert len(cookies) == 1 and cookies[0].startswith(b"c=v;")
    assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in first["headers"])


def test_encode_empty_response() -> None:
    (first,) = AsgiHandler.encode_response(HttpResponse(status=204))
    assert (first["status"], first["content"], first["more_content"]) == (204, b"", False)


def test_encode_large_response_in_chunks() -> None:
    data = bytes(range(256)) * (3 * MIB // 256) + b"end"
    messages = list(AsgiHandler.encode_response(HttpResponse(data)))
    assert len(messages) == -(-len(data) // CHUNK_SIZE)
    assert "status" in messages[0] and all("status" not in m for m in messages[1:])
    assert [m["more_content"] for m in messages] == [True] * (len(messages) - 1) + [False]
    assert b"".join(m["content"] for m in messages) == data
    assert all(len(codec.encode(m)) < MIB for m in messages)


def test_encode_streaming_response() -> None:
    resp = StreamingHttpResponse(iter([b"one", b"", b"z" * (CHUNK_SIZE + 10)]))
    messages = list(AsgiHandler.encode_response(resp))
    assert messages[0]["status"] == 200 and messages[0]["content"] == b""
    assert messages[0]["more_content"] is True
    assert messages[-1] == {"content": b"", "more_content": False}
    assert all(m["more_content"] for m in messages[:-1])
    assert b"".join(m["content"] for m in messages) == b"one" + b"z" * (CHUNK_SIZE + 10)
    assert max(len(m["content"]) for m in messages) <= CHUNK_SIZE


def test_encode_file_response_in_chunks(tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"f" * (CHUNK_SIZE * 2 + 5))
    resp = FileResponse(path.open("rb"))
    resp.block_size = CHUNK_SIZE  # what AsgiHandler sets on the FileResponses it serves
    messages = list(AsgiHandler.encode_response(resp))
    resp.close()
    assert [len(m["content"]) for m in messages] == [0, CHUNK_SIZE, CHUNK_SIZE, 5, 0]
    assert [b"content-length", str(CHUNK_SIZE * 2 + 5).encode()] in messages[0]["headers"]


def test_handler_call_yields_messages_directly(layer: Any) -> None:
    content = http_request(layer, "/echo/", query_string=b"x=1")
    (first,) = AsgiHandler()(message(layer, content))
    assert first["status"] == 200
    assert json.loads(first["content"])["GET"] == {"x": "1"}


# -- end to end: the worker runs view_consumer (tests/django/routing.py) -----------------------


def test_view_through_worker(layer: Any, worker: Any) -> None:
    content = http_request(
        layer,
        "/echo/",
        "POST",
        query_string=b"q=search",
        headers=[
            [b"host", b"example.com"],
            [b"cookie", b"flavour=oat"],
            [b"content-type", b"application/x-www-form-urlencoded"],
        ],
        body=b"field=value",
    )
    layer.send("http.request", content)
    first, chunks = response(layer, content["reply_channel"])
    assert first["status"] == 200 and chunks == []
    assert [b"content-type", b"application/json"] in first["headers"]
    seen = json.loads(first["content"])
    assert seen == {
        "method": "POST",
        "path": "/echo/",
        "path_info": "/echo/",
        "GET": {"q": "search"},
        "POST": {"field": "value"},
        "cookies": {"flavour": "oat"},
        "body_length": 11,
        "content_type": "application/x-www-form-urlencoded",
        "host": "example.com",
        "secure": False,
    }


def test_large_response_is_chunked(layer: Any, worker: Any) -> None:
    content = http_request(layer, "/big/")
    layer.send("http.request", content)
    first, chunks = response(layer, content["reply_channel"])
    assert first["status"] == 200
    assert len(chunks) == -(-BIG_SIZE // CHUNK_SIZE) - 1
    body = body_of(first, chunks)
    assert len(body) == BIG_SIZE and body[:256] == bytes(range(256))


def test_streaming_response(layer: Any, worker: Any) -> None:
    content = http_request(layer, "/stream/")
    layer.send("http.request", content)
    first, chunks = response(layer, content["reply_channel"])
    assert first["status"] == 200 and first["more_content"] is True
    body = body_of(first, chunks)
    assert body == b"".join(f"part {n}\n".encode() for n in range(5)) + b"y" * 600_000
    assert chunks[-1] == {"content": b"", "more_content": False}


def test_request_body_from_body_channel(layer: Any, worker: Any) -> None:
    body_channel = layer.new_channel("http.request.body?")
    payload = [b"1" * 400_000, b"2" * 400_000, b"3"]
    for index, chunk in enumerate(payload):
        layer.send(body_channel, {"content": chunk, "more_content": index < 2})
    content = http_request(layer, "/body/", "POST", body=b"0", body_channel=body_channel)
    layer.send("http.request", content)
    first, chunks = response(layer, content["reply_channel"])
    assert first["status"] == 200
    assert body_of(first, chunks) == b"0" + b"".join(payload)


def test_set_cookie_headers(layer: Any, worker: Any) -> None:
    content = http_request(layer, "/cookie/")
    layer.send("http.request", content)
    first, _ = response(layer, content["reply_channel"])
    cookies = sorted(value for name, value in first["headers"] if name == b"set-cookie")
    assert cookies[0].startswith(b"flavour=oat;")
    assert cookies[1].startswith(b"size=large;") and b"HttpOnly" in cookies[1]


@pytest.mark.parametrize(("path", "status"), [("/nowhere/", 404), ("/fail/", 500), ("/echo", 301)])
def test_error_statuses(layer: Any, worker: Any, path: str, status: int) -> None:
    content = http_request(layer, path)
    layer.send("http.request", content)
    first, _ = response(layer, content["reply_channel"])
    assert first["status"] == status


def test_disallowed_host_is_a_400(layer: Any, worker: Any) -> None:
    content = http_request(layer, "/echo/", headers=[[b"host", b"evil.example.net"]])
    layer.send("http.request", content)
    first, _ = response(layer, content["reply_channel"])
    assert first["status"] == 400


def test_malformed_message_gets_a_400(layer: Any, worker: Any) -> None:
    reply = layer.new_channel("http.response!")
    layer.send(
        "http.request",
        {"reply_channel": reply, "method": "GET", "path": "/echo/", "headers": [[b"host"]]},
    )
    first, _ = response(layer, reply)
    assert first["status"] == 400
    assert b"'headers'[0]" in first["content"]


def test_aborted_body_sends_nothing_and_worker_goes_on(layer: Any, worker: Any) -> None:
    body_channel = layer.new_channel("http.request.body?")
    layer.send(body_channel, {"closed": True})
    aborted = http_request(layer, "/body/", "POST", body_channel=body_channel)
    layer.send("http.request", aborted)
    after = http_request(layer, "/echo/")
    layer.send("http.request", after)
    first, _ = response(layer, after["reply_channel"])
    assert first["status"] == 200
    channel, _ = layer.receive([aborted["reply_channel"].split("!")[0] + "!"], block=False)
    assert channel is None


def test_failing_stream_is_closed_for_the_client(layer: Any) -> None:
    class Broken(Exception):
        pass

    def parts() -> Any:
        yield b"partial"
        raise Broken()

    class StreamHandler(AsgiHandler):
        def get_response(self, request: Any) -> Any:
            return StreamingHttpResponse(parts())

    class Consumer(ViewConsumer):
        handler_class = StreamHandler

    content = http_request(layer, "/stream/")
    with pytest.raises(Broken):
        Consumer()(message(layer, content))
    first, chunks = response(layer, content["reply_channel"])
    assert body_of(first, chunks) == b"partial"
    assert chunks[-1] == {"content": b"", "more_content": False}


def test_consumer_needs_a_reply_channel(layer: Any) -> None:
    with pytest.raises(ValueError, match="no reply_channel"):
        ViewConsumer()(message(layer, {"method": "GET", "path": "/echo/"}))


@pytest.fixture
def small_inbox_layer(layer: Any) -> Any:
    """``layer`` with reply inboxes limited to 2 pending messages."""
    from channels_core.manager import channel_layers

    small = channel_layers.make_wrapper(
        "default", prefix=layer.prefix + "s", channel_capacity={"http.response*": 2}
    )
    yield small
    small.channel_layer.close()


def test_full_reply_channel_waits_for_the_client(small_inbox_layer: Any) -> None:
    layer = small_inbox_layer
    content = http_request(layer, "/big/")
    done = threading.Event()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            ViewConsumer()(message(layer, content))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            done.set()

    threading.Thread(target=serve, daemon=True).start()
    first, chunks = response(layer, content["reply_channel"])  # reads while it is produced
    assert done.wait(10) and not errors
    assert len(body_of(first, chunks)) == BIG_SIZE


def test_reply_channel_that_stays_full_abandons_the_response(small_inbox_layer: Any) -> None:
    class Impatient(ViewConsumer):
        send_timeout = 0.2

    content = http_request(small_inbox_layer, "/big/")
    with pytest.raises(ChannelFull, match="stayed full"):
        Impatient()(message(small_inbox_layer, content))


@pytest.mark.parametrize(
    ("extra", "status", "says"),
    [
        ({"headers": [[b"host", b"example.com"], [b"content-length", b"2, 2"]]}, 400, b"content"),
        (
            {
                "headers": [
                    [b"host", b"example.com"],
                    [b"content-length", b"2"],
                    [b"content-length", b"2"],
                ]
            },
            400,
            b"sent 2 times",
        ),
        ({"headers": [[b"host", b"example.com"], [b"content-length", b"9"]]}, 400, b"says 9"),
        ({"body_channel": "not a channel!"}, 400, b"'body_channel'"),
        ({"path": b"/\xff/"}, 400, b"'path'"),
        ({"headers": [[b"host", b"example.com"], [b"content-length", b"99999999"]]}, 413, b""),
    ],
    ids=["bad-length", "two-lengths", "wrong-length", "body-channel", "path", "too-large"],
)
def test_bad_requests_get_their_status_and_the_worker_goes_on(
    layer: Any, worker: Any, extra: dict[str, Any], status: int, says: bytes
) -> None:
    content = {**http_request(layer, "/body/", "POST", body=b"ab"), **extra}
    layer.send("http.request", content)
    first, chunks = response(layer, content["reply_channel"])
    assert first["status"] == status
    assert says in body_of(first, chunks)
    after = http_request(layer, "/echo/")
    layer.send("http.request", after)
    assert response(layer, after["reply_channel"])[0]["status"] == 200


def test_bytes_path_and_utf8_query_string_reach_the_view(layer: Any, worker: Any) -> None:
    content = http_request(layer, "/echo/", query_string="q=été".encode())
    content["path"] = b"/echo/"
    layer.send("http.request", content)
    first, chunks = response(layer, content["reply_channel"])
    assert first["status"] == 200
    echoed = json.loads(body_of(first, chunks))
    assert (echoed["path"], echoed["GET"]) == ("/echo/", {"q": "été"})


def test_a_body_streamed_past_the_limit_gets_a_413(layer: Any, worker: Any) -> None:
    body_channel = layer.new_channel("http.request.body?")
    for _ in range(4):
        layer.send(body_channel, {"content": b"x" * 1_000_000, "more_content": True})
    content = http_request(layer, "/body/", "POST", body_channel=body_channel)
    layer.send("http.request", content)  # DATA_UPLOAD_MAX_MEMORY_SIZE: Django's 2.5 MB
    assert response(layer, content["reply_channel"])[0]["status"] == 413
