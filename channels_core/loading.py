"""``load_layer``: build a channel layer from a short name, a dotted path or a URL.

* short names and URL schemes: those of the registered backends
  (:mod:`channels_core.registry`; ``channels-core backends`` lists them), e.g. ``inmemory``,
  ``redis``, ``postgres``, ``memory://``, ``redis://host:6379/0``, ``postgresql://...``.
  ``?key=value`` options in the URL override ``config``;
* dotted paths: ``package.module:Class`` or ``package.module.Class``, any callable that returns
  a layer when called with the config as keyword arguments.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .exceptions import ImproperlyConfigured
from .layer import BaseChannelLayer
from .registry import registry
from .urls import redact


def import_object(path: str) -> Any:
    """Import ``package.module:name`` or ``package.module.name``; ImproperlyConfigured if absent."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ImproperlyConfigured(
            f"{path!r} is not a backend short name ({registry().describe()}), a URL, or a "
            "dotted path like 'package.module:Class'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImproperlyConfigured(f"cannot import {module_name!r} for {path!r}: {error}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImproperlyConfigured(f"module {module_name!r} has no attribute {attr!r}") from None


def backend_class(name: str) -> type[BaseChannelLayer]:
    """The layer class of a short backend name, with a clear error if it cannot be used."""
    backend = registry().get(name)
    if backend is None:
        raise ImproperlyConfigured(
            f"unknown backend {name!r}: expected one of {registry().describe()}, "
            "a URL or a dotted path"
        )
    cls: type[BaseChannelLayer] = backend.load()
    return cls


def load_layer(spec: str, **config: Any) -> BaseChannelLayer:
    """Build a layer from a short name, a dotted path or a URL, with ``config`` as options."""
    if not isinstance(spec, str) or not spec:
        raise ImproperlyConfigured(f"a layer spec must be a non-empty str, got {spec!r}")
    backends = registry()
    if "://" in spec:
        scheme = spec.split("://", 1)[0].lower()
        backend = backends.by_scheme(scheme)
        if backend is None:
            raise ImproperlyConfigured(
                f"unknown URL scheme {scheme!r} in {redact(spec)!r}: expected one of "
                f"{', '.join(backends.schemes)}"
            )
        return _construct(backend_class(backend.name).from_url, spec, config, spec)
    if backends.get(spec) is not None:
        return _construct(backend_class(spec), None, config, spec)
    factory = import_object(spec)
    if not callable(factory):
        raise ImproperlyConfigured(f"{spec!r} is not callable")
    layer = _construct(factory, None, config, spec)
    for member in ("send", "receive", "new_channel", "extensions"):
        if not hasattr(layer, member):
            raise ImproperlyConfigured(
                f"{spec!r} returned {type(layer).__name__}, which has no {member!r}: "
                "not a channel layer"
            )
    return layer


def _construct(
    factory: Callable[..., Any], url: str | None, config: dict[str, Any], spec: str
) -> Any:
    try:
        return factory(url, **config) if url is not None else factory(**config)
    except TypeError as error:
        if "argument" in str(error):
            raise ImproperlyConfigured(f"bad option for layer {redact(spec)!r}: {error}") from None
        raise
