"""The backend registry: one declaration per backend, read without importing client libraries;
third-party distributions register their own URL schemes the same way."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels_core import ImproperlyConfigured, load_layer
from channels_core import registry as registry_module
from channels_core.cli import backend_table
from channels_core.registry import Backend, Registry, registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Rediscover the backends after the test (its distribution gone from sys.path by then)."""
    yield
    registry.cache_clear()
    for name in [name for name in sys.modules if name.startswith("mylayer_pkg")]:
        del sys.modules[name]


def _write_distribution(root: Path, entry_points: str, files: dict[str, str]) -> None:
    """A test-only installed distribution: a dist-info with entry_points.txt, plus its modules."""
    info = root / "mylayer_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mylayer-dist\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))


THIRD_PARTY = {
    "mylayer_pkg/__init__.py": "",
    "mylayer_pkg/backend.py": """
        from channels_core.registry import Backend

        BACKEND = Backend(
            name="mylayer", layer="mylayer_pkg.layer:MyLayer", schemes=("mylayer",), extra="fast"
        )
        BROKEN = Backend(
            name="needsclient", layer="mylayer_pkg.needs_client:Layer", schemes=("needsclient",),
            extra="client",
        )
    """,
    "mylayer_pkg/layer.py": """
        from layers.inmemory import InMemoryChannelLayer

        class MyLayer(InMemoryChannelLayer):
            pass
    """,
    "mylayer_pkg/needs_client.py": """
        import mylayer_client_that_is_not_installed  # noqa: F401
    """,
}


def test_a_layer_registered_by_a_third_party_distribution_loads_by_its_url_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    _write_distribution(
        tmp_path,
        """
        [channels_core.layers]
        mylayer = mylayer_pkg.backend:BACKEND
        needsclient = mylayer_pkg.backend:BROKEN
        """,
        THIRD_PARTY,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry_module.reload()
    with load_layer("mylayer://?capacity=3", prefix="third") as layer:
        assert type(layer).__module__ == "mylayer_pkg.layer"
        assert (layer.capacity, layer.prefix) == (3, "third")
    with load_layer("mylayer") as layer:
        assert type(layer).__name__ == "MyLayer"
    assert registry().get("mylayer").distribution == "mylayer-dist"  # type: ignore[union-attr]
    # A missing client library: one error naming the extra of the distribution to install.
    with pytest.raises(ImproperlyConfigured) as info:
        load_layer("needsclient://somewhere")
    assert str(info.value) == (
        "backend 'needsclient' needs the 'mylayer_client_that_is_not_installed' package: "
        "pip install 'mylayer-dist[client]'"
    )


def test_a_scheme_registered_twice_is_a_clear_error() -> None:
    first = Backend(name="one", layer="a:B", schemes=("dup",))
    second = Backend(name="two", layer="c:D", schemes=("dup",), distribution="other-dist")
    with pytest.raises(ImproperlyConfigured, match=r"'dup' is registered twice.*'one'.*'two'"):
        Registry([first, second])


def test_an_entry_point_that_is_not_a_backend_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    _write_distribution(
        tmp_path,
        "[channels_core.layers]\nodd = mylayer_pkg.layer:MyLayer\n",
        THIRD_PARTY,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImproperlyConfigured, match="entry point 'odd' of mylayer-dist"):
        registry_module.reload()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "Bad Name", "layer": "a:B"},
        {"name": "ok", "layer": "a.B"},
        {"name": "ok", "layer": "a:B", "schemes": ("HTTP",)},
    ],
)
def test_malformed_declarations_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ImproperlyConfigured):
        Backend(**kwargs)  # type: ignore[arg-type]


def test_reading_the_registry_imports_no_client_library() -> None:
    code = (
        "import sys; from channels_core.registry import registry; "
        "names = [b.name for b in registry()]; "
        "assert {'inmemory', 'redis', 'postgres'} <= set(names), names; "
        "loaded = [m for m in ('redis', 'psycopg', 'pika', 'kafka') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_checkout_setup_cfg_is_read_even_if_the_installed_metadata_is_stale() -> None:
    entries = dict(registry_module._checkout_entries())
    assert entries["redis"] == "layers.redis.backend:BACKEND"
    assert set(entries) == set(registry().names) & set(entries)


def test_every_registered_backend_resolves_by_name_alias_and_scheme() -> None:
    for backend in registry():
        for name in (backend.name, *backend.aliases):
            assert registry().for_spec(name) is backend
        for scheme in backend.schemes:
            assert registry().for_spec(f"{scheme.upper()}://host") is backend
        assert backend.load().__name__ == backend.layer.rpartition(":")[2]


def test_the_readme_backend_table_is_the_registry() -> None:
    readme = (ROOT / "README.md").read_text()
    assert backend_table() in readme, (
        "README.md's backend table is out of date: paste `channels-core backends --markdown`"
    )


def test_each_backend_package_exports_its_layer_class_without_importing_its_client() -> None:
    code = (
        "import sys, importlib; from channels_core.registry import registry; "
        "backends = [b for b in registry() if b.extra]; "
        "packages = [importlib.import_module(b.layer.partition(':')[0].rpartition('.')[0]) "
        "for b in backends]; "
        "loaded = [m for m in ('redis', 'psycopg', 'pika', 'kafka') if m in sys.modules]; "
        "assert not loaded, loaded; "
        "classes = [getattr(p, b.layer.partition(':')[2]) for p, b in zip(packages, backends)]; "
        "assert classes == [b.load() for b in backends], classes; "
        "assert not hasattr(packages[0], 'NoSuchLayer')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
