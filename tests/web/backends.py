"""The network backends the end-to-end web tests run on: every registered backend that has a
server (so a backend added to the registry joins these tests by itself)."""

from __future__ import annotations

import importlib
import importlib.util

import pytest


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


def server_url(request: pytest.FixtureRequest, name: str) -> str:
    """The URL of the backend's test server, from its session fixture ``<name>_url`` in
    tests/conftest.py (which starts the server if needed, or fails loudly)."""
    try:
        return str(request.getfixturevalue(f"{name}_url"))
    except pytest.FixtureLookupError:
        pytest.fail(f"tests/conftest.py has no {name}_url fixture for the {name!r} backend")


def with_prefix(url: str, prefix: str) -> str:
    """``url`` with ``?prefix=...`` added (the layer's namespace for one test)."""
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"
