"""Django's view layer behind a channel layer: ``AsgiRequest`` and ``AsgiHandler``.

``AsgiRequest(message)``
    A :class:`django.http.HttpRequest` decoded from an ASGI 1.0 ``http.request`` message
    (``method``, ``path``, ``root_path``, ``query_string``, ``headers``, ``client``,
    ``server``, ``scheme``, ``body`` and ``body_channel``), with two more attributes:
    ``reply_channel`` (a :class:`~channels_core.channel.Channel`) and ``message``. A body too
    large for one message arrives as "request body chunk" messages (``content``,
    ``more_content``, ``closed``) on ``body_channel``; the request reads them all while it is
    built, waiting at most ``body_receive_timeout`` seconds in total (then
    :class:`RequestTimeout`). A chunk with ``closed`` set means the client went away:
    :class:`RequestAborted`. The body is spooled to disk past ``FILE_UPLOAD_MAX_MEMORY_SIZE``
    and refused past ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (None: no limit) with
    :class:`RequestBodyTooLarge`, from the ``Content-Length`` before anything is read, else as
    soon as the chunks go over. A ``path`` sent as bytes (servers of the Channels 1.x era) is
    decoded as UTF-8; the query string too (latin-1 for bytes that are not UTF-8).

``AsgiHandler()(message)``
    Runs the request through Django's middleware and views (it is a ``BaseHandler``) and
    yields the ASGI response messages. A malformed message gets a 400 response (so do a
    repeated or non-numeric ``Content-Length``, a body whose length differs from it, a path
    that is not UTF-8 and an invalid ``body_channel`` name), a body that does not arrive in
    time a 408, a body above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` a 413, an aborted body nothing at
    all.

``AsgiHandler.encode_response(response)``
    Yields the ASGI messages of a Django response: first a Response message (``status``,
    ``headers`` as ``[bytes name, bytes value]`` pairs with lower-case names, ``content``,
    ``more_content``), then Response Chunk messages (``content``, ``more_content``) while the
    body lasts. Bodies are cut into ``chunk_size`` (256 KiB) pieces, well under the 1 MiB
    message limit. A streaming response first sends its status and headers with an empty
    body, then each piece as it is produced, then an empty closing chunk.

See :mod:`channels_core.django.consumer` for the consumer that sends these messages back.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import IO, Any, ClassVar

from django import http
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted as DjangoRequestAborted
from django.core.handlers import base
from django.urls import set_script_prefix
from django.utils.functional import cached_property

from ..exceptions import InvalidChannelName
from ..names import check_receive_name
from . import http_message
from .http_message import InvalidRequestMessage

__all__ = [
    "CHUNK_SIZE",
    "AsgiHandler",
    "AsgiRequest",
    "InvalidRequestMessage",
    "RequestAborted",
    "RequestBodyTooLarge",
    "RequestTimeout",
]

logger = logging.getLogger("channels_core.django")

#: Size of the body pieces of response messages (the layers accept up to 1 MiB per message).
CHUNK_SIZE = 256 * 1024

ResponseMessage = dict[str, Any]


class RequestAborted(DjangoRequestAborted):
    """The client closed the connection before the whole request body arrived."""


class RequestTimeout(Exception):
    """The request body's chunks did not all arrive within ``body_receive_timeout``."""


class RequestBodyTooLarge(Exception):
    """The request body is larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (answered with 413)."""


_DIGITS = re.compile(r"[0-9]+")


def _content_length(values: list[str]) -> int:
    """The one ``Content-Length`` of a request: a single header of ASCII digits."""
    if len(values) != 1:
        raise InvalidRequestMessage(
            f"'content-length' header: sent {len(values)} times ({', '.join(values)!s:.60})"
        )
    value = values[0].strip()
    if not _DIGITS.fullmatch(value):
        raise InvalidRequestMessage(
            f"'content-length' header: must be a non-negative integer, got {values[0]!r:.60}"
        )
    return int(value)


class _BodyWriter:
    """Writes the request body to ``stream``, counting it against ``limit`` bytes (None: no
    limit)."""

    def __init__(self, stream: IO[bytes], limit: int | None) -> None:
        self.stream = stream
        self.limit = limit
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            raise RequestBodyTooLarge(
                f"the request body is above DATA_UPLOAD_MAX_MEMORY_SIZE ({self.limit} bytes)"
            )
        self.stream.write(data)


def _peer(value: Any, field: str) -> tuple[str, int] | None:
    """A ``client``/``server`` field: ``[host, port]`` or None."""
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not isinstance(value[0], str)
        or isinstance(value[1], bool)
        or not isinstance(value[1], int)
    ):
        raise InvalidRequestMessage(f"{field!r}: must be [host (str), port (int)], got {value!r}")
    return value[0], value[1]


class AsgiRequest(http.HttpRequest):
    """A Django request decoded from an ASGI 1.0 ``http.request`` :class:`Message`."""

    #: Longest total wait, in seconds, for the chunks of a ``body_channel``.
    body_receive_timeout: ClassVar[float] = 60.0

    def __init__(self, message: Any) -> None:
        content = message.content
        self.message = message
        self.reply_channel = message.reply_channel
        self._post_parse_error = False
        self._read_started = False
        self.resolver_match = None
        self.path = http_message.required_str(content, "path")
        self.script_name = http_message.optional_str(content, "root_path")
        root = self.script_name.rstrip("/")
        if root and (self.path == root or self.path.startswith(root + "/")):
            self.path_info = self.path[len(root) :] or "/"
        else:  # not under root_path ("/app" does not contain "/application")
            self.path_info = self.path
        self.method = http_message.required_str(content, "method").upper()
        self._scheme = http_message.optional_str(content, "scheme", "http") or "http"
        self.META = self._build_meta(content)
        self._set_content_type_params(self.META)
        self._stream = self._read_body(content)

    def _build_meta(self, content: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "REQUEST_METHOD": self.method,
            "QUERY_STRING": http_message.query_string(content),
            "SCRIPT_NAME": self.script_name,
            "PATH_INFO": self.path_info,
            "SERVER_PROTOCOL": "HTTP/" + http_message.optional_str(content, "http_version", "1.1"),
            "wsgi.url_scheme": self._scheme,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
        }
        client = _peer(content.get("client"), "client")
        if client is not None:
            meta["REMOTE_ADDR"] = meta["REMOTE_HOST"] = client[0]
            meta["REMOTE_PORT"] = client[1]
        server = _peer(content.get("server"), "server")
        meta["SERVER_NAME"], meta["SERVER_PORT"] = (
            (server[0], str(server[1])) if server is not None else ("unknown", "0")
        )
        values: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in http_message.headers(content):
            if "_" in name:
                # "X_Forwarded" and "X-Forwarded" both become HTTP_X_FORWARDED: drop the
                # ambiguous spelling so a client cannot spoof a header a proxy set.
                continue
            if name == "content-length":
                key = "CONTENT_LENGTH"
            elif name == "content-type":
                key = "CONTENT_TYPE"
            else:
                key = "HTTP_" + name.upper().replace("-", "_")
            values[key].append(value)
        for key, found in values.items():
            meta[key] = ("; " if key == "HTTP_COOKIE" else ",").join(found)
        if "CONTENT_LENGTH" in values:
            meta["CONTENT_LENGTH"] = str(_content_length(values["CONTENT_LENGTH"]))
        return meta

    # -- body -----------------------------------------------------------------------------

    def _read_body(self, content: Any) -> IO[bytes]:
        body = content.get("body") or b""
        if not isinstance(body, bytes):
            raise InvalidRequestMessage(f"'body': must be bytes, got {type(body).__name__}")
        declared = self.META.get("CONTENT_LENGTH")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if declared is not None and limit is not None and int(declared) > limit:
            raise RequestBodyTooLarge(
                f"Content-Length {declared} is above DATA_UPLOAD_MAX_MEMORY_SIZE ({limit})"
            )
        body_channel = content.get("body_channel")
        if body_channel:
            if not isinstance(body_channel, str):
                raise InvalidRequestMessage(
                    f"'body_channel': must be a channel name, got {body_channel!r:.60}"
                )
            try:
                check_receive_name(body_channel)
            except InvalidChannelName as error:
                raise InvalidRequestMessage(f"'body_channel': {error}") from None
        stream = tempfile.SpooledTemporaryFile(
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b"
        )
        try:
            received = _BodyWriter(stream, limit)
            received.write(body)
            if body_channel:
                self._read_body_channel(body_channel, received)
            if declared is not None and received.size != int(declared):
                raise InvalidRequestMessage(
                    f"the request body is {received.size} bytes but its Content-Length says "
                    f"{declared}"
                )
        except BaseException:
            stream.close()
            raise
        stream.seek(0)
        return stream

    def _read_body_channel(self, body_channel: str, stream: _BodyWriter) -> None:
        layer = self.message.channel_layer
        deadline = time.monotonic() + self.body_receive_timeout
        while True:
            if time.monotonic() >= deadline:
                raise RequestTimeout(
                    f"the request body on {body_channel!r} did not arrive within "
                    f"{self.body_receive_timeout:g} s"
                )
            channel, chunk = layer.receive([body_channel], block=True)
            if channel is None:
                continue
            if chunk.get("closed"):
                raise RequestAborted(
                    f"the client closed the connection while sending the request body "
                    f"(chunk on {body_channel!r})"
                )
            data = chunk.get("content") or b""
            if not isinstance(data, bytes):
                raise InvalidRequestMessage(
                    f"'content' of a body chunk on {body_channel!r}: must be bytes, got "
                    f"{type(data).__name__}"
                )
            stream.write(data)
            if not chunk.get("more_content", False):
                return

    # -- what HttpRequest leaves to its subclasses ---------------------------------------------

    def _get_scheme(self) -> str:
        return self._scheme

    @cached_property
    def GET(self) -> http.QueryDict:
        return http.QueryDict(self.META["QUERY_STRING"], encoding=self._encoding)

    @cached_property
    def COOKIES(self) -> dict[str, str]:
        return dict(http.parse_cookie(self.META.get("HTTP_COOKIE", "")))

    def _get_post(self) -> Any:
        if not hasattr(self, "_post"):
            self._load_post_and_files()
        return self._post

    def _set_post(self, post: Any) -> None:
        self._post = post

    POST = property(_get_post, _set_post)

    @property
    def FILES(self) -> Any:
        if not hasattr(self, "_files"):
            self._load_post_and_files()
        return self._files

    def close(self) -> None:
        super().close()
        self._stream.close()


class AsgiHandler(base.BaseHandler):
    """Turns ``http.request`` messages into ASGI response messages through Django's views.

    Build one per process (loading the middleware is not free) and call it per message; it is
    safe to share between worker threads, like Django's WSGI handler.
    """

    request_class: ClassVar[type[AsgiRequest]] = AsgiRequest
    chunk_size: ClassVar[int] = CHUNK_SIZE

    def __init__(self) -> None:
        super().__init__()
        self.load_middleware()

    def __call__(self, message: Any) -> Iterator[ResponseMessage]:
        """Yield the response messages for the ``http.request`` ``message``."""
        signals.request_started.send(sender=type(self), message=message)
        try:
            request = self.request_class(message)
            set_script_prefix(settings.FORCE_SCRIPT_NAME or request.script_name or "/")
        except InvalidRequestMessage as error:
            logger.warning("bad http.request message on %r: %s", message.channel.name, error)
            response = http.HttpResponseBadRequest(f"Bad request: {error}".encode())
        except RequestTimeout as error:
            logger.warning("%s", error)
            response = http.HttpResponse(b"Request Timeout", status=408)
        except RequestBodyTooLarge as error:
            logger.warning("request on %r refused: %s", message.channel.name, error)
            response = http.HttpResponse(b"Request Entity Too Large", status=413)
        except RequestAborted as error:
            logger.info("%s: no response sent", error)
            signals.request_finished.send(sender=type(self))
            return
        else:
            response = self.get_response(request)
            if isinstance(response, http.FileResponse):
                response.block_size = self.chunk_size
        response._handler_class = type(self)
        try:
            yield from self.encode_response(response)
        finally:
            response.close()  # closes the request and files; sends request_finished

    @classmethod
    def encode_response(cls, response: Any) -> Iterator[ResponseMessage]:
        """Yield the Response message, then Response Chunk messages, for ``response``."""
        headers: list[list[bytes]] = [
            [name.lower().encode("latin-1"), str(value).encode("latin-1")]
            for name, value in response.items()
        ]
        for cookie in response.cookies.values():
            headers.append([b"set-cookie", cookie.output(header="").strip().encode("latin-1")])
        start: ResponseMessage = {"status": response.status_code, "headers": headers}
        if response.streaming:
            yield {**start, "content": b"", "more_content": True}
            for part in response:
                for piece in cls.chunk_bytes(part):
                    yield {"content": piece, "more_content": True}
            yield {"content": b"", "more_content": False}
            return
        pieces = list(cls.chunk_bytes(response.content)) or [b""]
        yield {**start, "content": pieces[0], "more_content": len(pieces) > 1}
        for number, piece in enumerate(pieces[1:], start=2):
            yield {"content": piece, "more_content": number < len(pieces)}

    @classmethod
    def chunk_bytes(cls, data: bytes) -> Iterator[bytes]:
        """``data`` in pieces of at most ``chunk_size`` bytes (nothing for empty data)."""
        size = cls.chunk_size
        for start in range(0, len(data), size):
            yield bytes(data[start : start + size])
