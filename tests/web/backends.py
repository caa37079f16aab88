"""The network backends the end-to-end web tests run on: every registered backend that has a
server (so a backend added to the registry joins these tests by itself)."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

from tests import servers


def network_backend_names() -> list[str]:
    """Short names of the registered backends that talk to a server, in registry order (a
    backend whose package is not in this tree yet is left out; a missing client library is
    not: its tests fail, naming the extra to install)."""
    try:
        registry = importlib.import_module("channels_core.registry")
    except ImportError:  # before the registry: the loader's table
        from channels_core.loading import BACKENDS

        layers = {name: path for name, (path, _) in BACKENDS.items() if name != "inmemory"}
    else:
        layers = {backend.name: backend.layer for backend in registry.registry() if backend.url}
    return [name for name, layer in layers.items() if _in_tree(layer.partition(":")[0])]


def _in_tree(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError as error:
        if error.name and module.startswith(error.name):
            return False  # its package is not in this tree
        raise


def server_url(name: str) -> str:
    """The URL of the backend's test server, started if it is down (fails loudly otherwise)."""
    servers.require(name)
    url = getattr(servers, f"{name.upper()}_URL", None)
    if url is None:
        pytest.fail(f"tests/servers.py has no {name.upper()}_URL for the {name!r} backend")
    return str(url)


def with_prefix(url: str, prefix: str) -> str:
    """``url`` with ``?prefix=...`` added (the layer's namespace for one test)."""
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"
