"""AsgiRequest: decoding an ASGI 1.0 http.request message into a Django request."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from channels_core.channel import Channel
from channels_core.django.handler import (
    AsgiRequest,
    InvalidRequestMessage,
    RequestAborted,
    RequestBodyTooLarge,
    RequestTimeout,
)

from .conftest import http_request, message


def test_decodes_method_path_query_and_meta(layer: Any) -> None:
    content = http_request(
        layer,
        "/app/echo/",
        "post",
        query_string=b"a=1&b=%C3%A9t%C3%A9&a=2",
        root_path="/app",
        scheme="https",
        headers=[
            [b"host", b"example.com:8443"],
            [b"content-type", b"application/x-www-form-urlencoded; charset=utf-8"],
            [b"content-length", b"7"],
            [b"x-custom", b"one"],
            [b"X-Custom", b"two"],
            [b"x_forwarded_for", b"spoofed"],
        ],
        body=b"k=v&w=1",
    )
    request = AsgiRequest(message(layer, content))
    assert request.method == "POST"
    assert request.path == "/app/echo/"
    assert request.path_info == "/echo/"
    assert request.META["SCRIPT_NAME"] == "/app"
    assert request.GET.getlist("a") == ["1", "2"]
    assert request.GET["b"] == "été"
    assert request.META["QUERY_STRING"] == "a=1&b=%C3%A9t%C3%A9&a=2"
    assert request.META["CONTENT_TYPE"].startswith("application/x-www-form-urlencoded")
    assert request.META["CONTENT_LENGTH"] == "7"
    assert request.META["HTTP_X_CUSTOM"] == "one,two"
    assert "HTTP_X_FORWARDED_FOR" not in request.META  # underscore spelling dropped
    assert request.META["REMOTE_ADDR"] == "10.0.0.7"
    assert request.META["REMOTE_PORT"] == 50123
    assert (request.META["SERVER_NAME"], request.META["SERVER_PORT"]) == ("10.0.0.1", "8000")
    assert request.META["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert request.is_secure()
    assert request.get_host() == "example.com:8443"
    assert request.encoding == "utf-8"
    assert request.body == b"k=v&w=1"
    assert request.POST.dict() == {"k": "v", "w": "1"}


def test_multipart_upload_fills_post_and_files(layer: Any) -> None:
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="title"\r\n\r\n'
        b"report\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="upload"; filename="a.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + b"\x00\x01" * 1000 + b"\r\n--XyZ--\r\n"
    )
    headers = [
        [b"host", b"example.com"],
        [b"content-type", b"multipart/form-data; boundary=XyZ"],
        [b"content-length", str(len(body)).encode()],
    ]
    request = AsgiRequest(
        message(layer, http_request(layer, "/", "POST", headers=headers, body=body))
    )
    assert request.POST["title"] == "report"
    assert request.FILES["upload"].read() == b"\x00\x01" * 1000
    request.close()


def test_cookies_reply_channel_and_message(layer: Any) -> None:
    content = http_request(
        layer,
        "/echo/",
        headers=[[b"cookie", b"a=1; b=two"], [b"cookie", b"c=3"]],
    )
    msg = message(layer, content)
    request = AsgiRequest(msg)
    assert request.COOKIES == {"a": "1", "b": "two", "c": "3"}
    assert request.message is msg
    assert isinstance(request.reply_channel, Channel)
    assert request.reply_channel.name == content["reply_channel"]


@pytest.mark.parametrize(
    ("root_path", "path", "path_info"),
    [
        ("/app", "/app/x/", "/x/"),
        ("/app/", "/app/x/", "/x/"),
        ("/app", "/app", "/"),
        ("/app", "/application/", "/application/"),
        ("", "/x/", "/x/"),
    ],
)
def test_path_info_under_root_path(layer: Any, root_path: str, path: str, path_info: str) -> None:
    content = {"method": "GET", "path": path, "root_path": root_path}
    assert AsgiRequest(message(layer, content)).path_info == path_info


def test_defaults_without_optional_fields(layer: Any) -> None:
    request = AsgiRequest(message(layer, {"method": "GET", "path": "/"}))
    assert request.path_info == "/"
    assert request.GET.dict() == {}
    assert request.COOKIES == {}
    assert request.body == b""
    assert request.scheme == "http"
    assert request.reply_channel is None
    assert (request.META["SERVER_NAME"], request.META["SERVER_PORT"]) == ("unknown", "0")
    assert "REMOTE_ADDR" not in request.META


def test_text_header_values_are_accepted(layer: Any) -> None:
    content = {"method": "GET", "path": "/", "headers": [["X-A", "b"]], "query_string": "q=1"}
    request = AsgiRequest(message(layer, content))
    assert request.META["HTTP_X_A"] == "b"
    assert request.GET["q"] == "1"


def test_reads_body_chunks_from_body_channel(layer: Any) -> None:
    body_channel = layer.new_channel("http.request.body?")
    chunks = [b"a" * 300_000, b"b" * 300_000, b"tail"]
    for index, chunk in enumerate(chunks):
        layer.send(body_channel, {"content": chunk, "more_content": index < len(chunks) - 1})
    content = http_request(layer, "/body/", "POST", body=b"head", body_channel=body_channel)
    request = AsgiRequest(message(layer, content))
    assert request.body == b"head" + b"".join(chunks)


def test_closed_body_chunk_aborts(layer: Any) -> None:
    body_channel = layer.new_channel("http.request.body?")
    layer.send(body_channel, {"content": b"part", "more_content": True})
    layer.send(body_channel, {"closed": True})
    content = http_request(layer, "/body/", "POST", body_channel=body_channel)
    with pytest.raises(RequestAborted, match="closed the connection"):
        AsgiRequest(message(layer, content))


@pytest.mark.timeout(20)
def test_missing_body_chunks_time_out(layer: Any) -> None:
    class QuickRequest(AsgiRequest):
        body_receive_timeout = 0.3

    body_channel = layer.new_channel("http.request.body?")
    layer.send(body_channel, {"content": b"part", "more_content": True})
    content = http_request(layer, "/body/", "POST", body_channel=body_channel)
    with pytest.raises(RequestTimeout, match="did not arrive"):
        QuickRequest(message(layer, content))


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"path": "/"}, "'method'"),
        ({"method": "GET"}, "'path'"),
        ({"method": "GET", "path": "/", "headers": "host: x"}, "'headers'"),
        ({"method": "GET", "path": "/", "headers": [[b"host"]]}, "'headers'[0]"),
        ({"method": "GET", "path": "/", "headers": [[b"host", 3]]}, "'headers'[0][1]"),
        ({"method": "GET", "path": "/", "body": "text"}, "'body'"),
        ({"method": "GET", "path": "/", "client": ["h"]}, "'client'"),
        ({"method": "GET", "path": "/", "query_string": 5}, "'query_string'"),
    ],
)
def test_malformed_messages_name_the_field(layer: Any, content: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestMessage) as raised:
        AsgiRequest(message(layer, content))
    assert field in str(raised.value)


def test_a_bytes_path_is_decoded_as_utf8(layer: Any) -> None:
    content = http_request(layer, "/")
    content["path"] = "/café/".encode()
    request = AsgiRequest(message(layer, content))
    assert request.path == request.path_info == "/café/"


def test_a_path_that_is_not_utf8_is_a_clear_error(layer: Any) -> None:
    content = http_request(layer, "/")
    content["path"] = b"/\xff/"
    with pytest.raises(InvalidRequestMessage, match=r"'path': bytes that are not UTF-8"):
        AsgiRequest(message(layer, content))


def test_raw_utf8_in_the_query_string_is_decoded_as_utf8(layer: Any) -> None:
    content = http_request(layer, "/", query_string="q=été&x=%C3%A9".encode())
    request = AsgiRequest(message(layer, content))
    assert request.GET["q"] == "été"
    assert request.GET["x"] == "é"
    latin = http_request(layer, "/", query_string=b"q=\xe9t\xe9")  # not UTF-8: latin-1
    assert AsgiRequest(message(layer, latin)).GET["q"] == "été"


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([[b"content-length", b"4"], [b"content-length", b"4"]], "sent 2 times"),
        ([[b"content-length", b"4, 4"]], "non-negative integer"),
        ([[b"content-length", b"-4"]], "non-negative integer"),
        ([[b"content-length", b"four"]], "non-negative integer"),
        ([[b"content-length", b"\xd9\xa4"]], "non-negative integer"),  # an Arabic-Indic 4
        ([[b"content-length", b"3"]], "body is 4 bytes but its Content-Length says 3"),
        ([[b"content-length", b"5"]], "body is 4 bytes but its Content-Length says 5"),
    ],
)
def test_bad_duplicated_or_wrong_content_length_is_invalid(
    layer: Any, headers: list[list[bytes]], error: str
) -> None:
    content = http_request(layer, "/", "POST", headers=[[b"host", b"x"], *headers], body=b"data")
    with pytest.raises(InvalidRequestMessage, match=error):
        AsgiRequest(message(layer, content))


def test_the_content_length_counts_the_body_channel_chunks(layer: Any) -> None:
    body_channel = layer.new_channel("http.request.body?")
    layer.send(body_channel, {"content": b"56789", "more_content": False})
    content = http_request(
        layer,
        "/",
        "POST",
        headers=[[b"content-length", b"9"]],
        body=b"1234",
        body_channel=body_channel,
    )
    assert AsgiRequest(message(layer, content)).body == b"123456789"


def test_a_body_above_data_upload_max_memory_size_is_refused(layer: Any) -> None:
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10):
        declared = http_request(layer, "/", "POST", headers=[[b"content-length", b"11"]])
        with pytest.raises(RequestBodyTooLarge, match=r"Content-Length 11 .*\(10\)"):
            AsgiRequest(message(layer, declared))  # refused before reading anything
        body_channel = layer.new_channel("http.request.body?")
        for _ in range(3):
            layer.send(body_channel, {"content": b"12345", "more_content": True})
        streamed = http_request(layer, "/", "POST", body=b"1", body_channel=body_channel)
        with pytest.raises(RequestBodyTooLarge, match=r"above DATA_UPLOAD_MAX_MEMORY_SIZE"):
            AsgiRequest(message(layer, streamed))
        assert AsgiRequest(message(layer, http_request(layer, "/", body=b"x" * 10))).body
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=None):
        big = http_request(layer, "/", "POST", body=b"x" * 3_000_000)
        assert len(AsgiRequest(message(layer, big)).body) == 3_000_000


@pytest.mark.parametrize("name", ["http.request.body?", "no spaces allowed", "a!b", "x" * 101])
def test_an_invalid_body_channel_name_is_invalid(layer: Any, name: str) -> None:
    content = http_request(layer, "/", "POST", body_channel=name)
    with pytest.raises(InvalidRequestMessage, match=r"'body_channel': "):
        AsgiRequest(message(layer, content))
