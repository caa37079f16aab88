"""The backend registry: which layer class a short name or URL scheme selects.

Every backend declares itself once, with a :class:`Backend` object in a module of its own
package that imports nothing but this module (so the registry is read without importing any
client library), and registers that object under the entry-point group ``channels_core.layers``
of its distribution::

    # layers/redis/backend.py
    BACKEND = Backend(
        name="redis",
        layer="layers.redis.layer:RedisChannelLayer",
        schemes=("redis", "rediss", "redis+sentinel", "unix"),
        extra="redis",
        title="Redis ≥ 6",
        url="redis://127.0.0.1:6379/0",
    )

    # setup.cfg
    [options.entry_points]
    channels_core.layers =
        redis = layers.redis.backend:BACKEND

A third-party distribution registers ``mylayer://`` the same way. ``load_layer``, the settings'
errors, ``channels-core backends`` and ``check``, the benchmark's targets, the README's backend
table and the conformance matrix all read this registry.

In a source checkout installed in development mode (``pip install -e .``), the installed
metadata is only as fresh as the last install; the registry therefore also reads the
``channels_core.layers`` section of the checkout's own ``setup.cfg``, so a backend added there
works without reinstalling.
"""

from __future__ import annotations

import configparser
import functools
import importlib
import importlib.metadata
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .exceptions import ImproperlyConfigured

ENTRY_POINT_GROUP = "channels_core.layers"
#: The distribution this package belongs to (its own backends' extras are its extras).
DISTRIBUTION = "channels-core"

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")


@dataclass(frozen=True)
class Backend:
    """One backend, as its package declares it."""

    #: Short name (``load_layer("redis")``, ``BACKEND: "redis"``).
    name: str
    #: The layer class, ``package.module:Class``; imported only when the backend is used.
    layer: str
    #: URL schemes selecting it (``redis`` for ``redis://...``), lower case.
    schemes: tuple[str, ...] = ()
    #: Other short names for it.
    aliases: tuple[str, ...] = ()
    #: The extra of ``distribution`` that installs its client library (None: needs none).
    extra: str | None = None
    #: Human name, for tables (README, benchmark): e.g. "Redis ≥ 6".
    title: str = ""
    #: The URL of a server on this machine with its default settings (``check``, benchmark,
    #: conformance matrix); None when the backend needs no server.
    url: str | None = None
    #: The distribution that registered it (filled in from the entry point).
    distribution: str = DISTRIBUTION

    def __post_init__(self) -> None:
        for name in (self.name, *self.aliases):
            if not isinstance(name, str) or not _NAME.match(name):
                raise ImproperlyConfigured(
                    f"backend {self.name!r}: short names are lower-case identifiers "
                    f"(letters, digits, '-', '_'), got {name!r}"
                )
        for scheme in self.schemes:
            if not isinstance(scheme, str) or not _SCHEME.match(scheme):
                raise ImproperlyConfigured(
                    f"backend {self.name!r}: {scheme!r} is not a lower-case URL scheme"
                )
        module, sep, attr = self.layer.partition(":")
        if not (module and sep and attr):
            raise ImproperlyConfigured(
                f"backend {self.name!r}: layer must be 'package.module:Class', got {self.layer!r}"
            )

    @property
    def install(self) -> str:
        """What to pip install to use it."""
        return f"{self.distribution}[{self.extra}]" if self.extra else self.distribution

    @property
    def spec(self) -> str:
        """How to select it with its defaults: its local URL, else its short name."""
        return self.url or self.name

    def load(self) -> type[Any]:
        """Import the layer class; a missing client library names the extra to install."""
        module_name, _, attr = self.layer.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if missing and (module_name == missing or module_name.startswith(missing + ".")):
                raise ImproperlyConfigured(
                    f"backend {self.name!r}: its module {module_name!r} is not installed "
                    f"(pip install '{self.distribution}')"
                ) from None
            raise ImproperlyConfigured(
                f"backend {self.name!r} needs the {missing!r} package: pip install '{self.install}'"
            ) from None
        try:
            cls: type[Any] = getattr(module, attr)
        except AttributeError:
            raise ImproperlyConfigured(
                f"backend {self.name!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
        return cls

    def package_getattr(self, package: str) -> Callable[[str], Any]:
        """A ``__getattr__`` for the backend's package that gives its layer class by name,
        imported on first use: importing the package (or reading this registration) never
        imports the client library."""
        attr = self.layer.partition(":")[2]

        def __getattr__(name: str) -> Any:
            if name == attr:
                return self.load()
            raise AttributeError(f"module {package!r} has no attribute {name!r}")

        return __getattr__


class Registry:
    """The registered backends, looked up by short name, alias or URL scheme."""

    def __init__(self, backends: Iterable[Backend]) -> None:
        self._backends: dict[str, Backend] = {}
        self._names: dict[str, Backend] = {}
        self._schemes: dict[str, Backend] = {}
        for backend in backends:
            self._backends[backend.name] = backend
            for key, table, kind in (
                *((name, self._names, "short name") for name in (backend.name, *backend.aliases)),
                *((scheme, self._schemes, "URL scheme") for scheme in backend.schemes),
            ):
                other = table.get(key)
                if other is not None and other.name != backend.name:
                    raise ImproperlyConfigured(
                        f"{kind} {key!r} is registered twice: by backend {other.name!r} "
                        f"({other.distribution}) and by {backend.name!r} ({backend.distribution})"
                    )
                table[key] = backend

    def __iter__(self) -> Iterator[Backend]:
        return iter(self._backends.values())

    def __len__(self) -> int:
        return len(self._backends)

    @property
    def names(self) -> list[str]:
        return list(self._backends)

    @property
    def schemes(self) -> list[str]:
        return sorted(self._schemes)

    def get(self, name: str) -> Backend | None:
        """The backend of a short name or alias."""
        return self._names.get(name)

    def by_scheme(self, scheme: str) -> Backend | None:
        return self._schemes.get(scheme.lower())

    def for_spec(self, spec: str) -> Backend | None:
        """The backend a ``load_layer`` spec selects (None for a dotted path or unknown)."""
        if "://" in spec:
            return self.by_scheme(spec.split("://", 1)[0])
        return self.get(spec)

    def describe(self) -> str:
        """The short names, for error messages."""
        return ", ".join(self._backends) or "none registered"


# -- discovery --------------------------------------------------------------------------------


def _declared(value: str, where: str) -> Backend:
    """Import ``module:attr`` (a declaration object) and check it is a :class:`Backend`."""
    module_name, _, attr = value.strip().partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise ImproperlyConfigured(f"{where}: cannot load {value!r}: {error}") from None
    if not isinstance(obj, Backend):
        raise ImproperlyConfigured(f"{where}: {value!r} is not a channels_core Backend")
    return obj


def _checkout_entries() -> list[tuple[str, str]]:
    """(name, value) of the ``channels_core.layers`` entry points in the setup.cfg of the
    source checkout this package is imported from, if it is imported from one."""
    setup_cfg = Path(__file__).resolve().parent.parent / "setup.cfg"
    if not setup_cfg.is_file():
        return []
    parser = configparser.ConfigParser()
    try:
        parser.read(setup_cfg, encoding="utf-8")
        if parser.get("metadata", "name", fallback="") != DISTRIBUTION:
            return []
        text = parser.get("options.entry_points", ENTRY_POINT_GROUP, fallback="")
    except configparser.Error:
        return []
    entries = []
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            entries.append((name.strip(), value.strip()))
    return entries


def discover() -> Registry:
    """Read every registered backend (installed entry points, plus the checkout's setup.cfg)."""
    found: dict[str, Backend] = {}
    for name, value in _checkout_entries():
        found[name] = _checked(name, _declared(value, f"setup.cfg [{ENTRY_POINT_GROUP}] {name}"))
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry.dist.name if entry.dist is not None else DISTRIBUTION
        if dist.replace("_", "-").lower() == DISTRIBUTION and entry.name in found:
            continue  # the checkout's setup.cfg is fresher than its installed metadata
        where = f"entry point {entry.name!r} of {dist}"
        backend = replace(_declared(entry.value, where), distribution=dist)
        found.setdefault(entry.name, _checked(entry.name, backend))
    return Registry(found.values())


def _checked(entry_name: str, backend: Backend) -> Backend:
    if backend.name != entry_name:
        raise ImproperlyConfigured(
            f"entry point {entry_name!r} of group {ENTRY_POINT_GROUP!r} declares a backend "
            f"named {backend.name!r}: the two must match"
        )
    return backend


@functools.cache
def registry() -> Registry:
    """The registered backends (discovered once per process; see :func:`reload`)."""
    return discover()


def reload() -> Registry:
    """Discover the backends again (after installing one, or in tests)."""
    registry.cache_clear()
    return registry()
