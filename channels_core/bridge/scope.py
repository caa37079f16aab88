"""The connection fields of an ASGI 1.0 ``http.request`` / ``websocket.connect`` from an ASGI 3
scope (the "www" message format of ASGI 1.0)."""

from __future__ import annotations

from typing import Any


def _address(value: Any) -> list[Any] | None:
    if not value:
        return None
    host, port = value[0], value[1]
    return [str(host), port]


def connection_fields(scope: dict[str, Any], default_scheme: str) -> dict[str, Any]:
    """``path`` (decoded), ``root_path``, ``scheme``, ``query_string`` (bytes), ``headers``
    (``[name, value]`` byte strings, names lowercased, order and duplicates kept), ``client``
    and ``server`` (``[host, port]`` or None)."""
    return {
        "path": scope.get("path", "/"),
        "root_path": scope.get("root_path", ""),
        "scheme": scope.get("scheme") or default_scheme,
        "query_string": bytes(scope.get("query_string", b"")),
        "headers": [
            [bytes(name).lower(), bytes(value)] for name, value in scope.get("headers", [])
        ],
        "client": _address(scope.get("client")),
        "server": _address(scope.get("server")),
    }
