"""Settings: CHANNEL_LAYERS sources, backends by short name / dotted path / URL, the environment
override, TEST_CONFIG, the manager, and one clear error per misconfiguration."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels_core import ImproperlyConfigured, channel_layers
from channels_core.manager import ChannelLayerManager
from channels_core.settings import build_layer, load_settings, raw_channel_layers
from layers.inmemory import InMemoryChannelLayer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in list(os.environ):
        if var.startswith("CHANNEL_LAYER_URL") or var in (
            "CHANNELS_SETTINGS_MODULE",
            "DJANGO_SETTINGS_MODULE",
        ):
            monkeypatch.delenv(var)
    yield
    channel_layers.reset()


def build(raw: Any, alias: str = "default", env: dict[str, str] | None = None, **kw: Any) -> Any:
    return build_layer(load_settings(raw, env or {})[alias], **kw)


def config_error(raw: Any, env: dict[str, str] | None = None, alias: str = "default") -> str:
    with pytest.raises(ImproperlyConfigured) as caught:
        build(raw, alias, env)
    error = caught.value
    # one error, not a chain of tracebacks
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return str(error)


# -- sources --------------------------------------------------------------------------------


def test_default_is_the_in_memory_layer() -> None:
    assert raw_channel_layers() == {"default": {"BACKEND": "inmemory"}}
    settings = load_settings()
    assert list(settings) == ["default"]
    with build_layer(settings["default"]) as layer:
        assert isinstance(layer, InMemoryChannelLayer)


def test_settings_module_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_channels_settings.py").write_text(
        "CHANNEL_LAYERS = {'default': {'BACKEND': 'memory://', 'CONFIG': {'capacity': 7}},\n"
        "                  'other': {'BACKEND': 'inmemory', 'ROUTING': []}}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CHANNELS_SETTINGS_MODULE", "my_channels_settings")
    manager = ChannelLayerManager()
    assert manager["default"].capacity == 7
    assert manager["default"] is manager["default"]  # cached per process
    assert manager["other"].alias == "other" and manager["other"].router.channels == set()
    assert manager["other"] is not manager["default"]
    manager.close_all()


def test_missing_settings_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNELS_SETTINGS_MODULE", "no_such_settings_module_xyz")
    with pytest.raises(ImproperlyConfigured, match="CHANNELS_SETTINGS_MODULE='no_such"):
        load_settings()


@pytest.mark.timeout(60)
def test_django_settings_are_used_when_django_is_configured(tmp_path: Path) -> None:
    (tmp_path / "djsettings.py").write_text(
        "SECRET_KEY = 'x'\nCHANNEL_LAYERS = {'default': {'BACKEND': 'inmemory', "
        "'CONFIG': {'capacity': 11}}}\n"
    )
    code = textwrap.dedent(
        """
        from channels_core import channel_layers
        print(channel_layers["default"].capacity)
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "DJANGO_SETTINGS_MODULE": "djsettings",
    }
    env.pop("CHANNELS_SETTINGS_MODULE", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "11"


# -- backends -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend",
    [
        "inmemory",
        "memory",
        "memory://",
        "layers.inmemory:InMemoryChannelLayer",
        "layers.inmemory.InMemoryChannelLayer",
    ],
)
def test_backend_by_short_name_dotted_path_or_url(backend: str) -> None:
    with build({"default": {"BACKEND": backend, "CONFIG": {"prefix": "p1"}}}) as layer:
        assert isinstance(layer, InMemoryChannelLayer) and layer.prefix == "p1"


def test_url_options_override_config() -> None:
    raw = {"default": {"BACKEND": "memory://?capacity=3", "CONFIG": {"capacity": 9, "expiry": 5}}}
    with build(raw) as layer:
        assert layer.capacity == 3 and layer.expiry == 5


def test_test_config_replaces_config() -> None:
    raw = {
        "default": {
            "BACKEND": "inmemory",
            "CONFIG": {"prefix": "prod", "capacity": 50},
            "TEST_CONFIG": {"prefix": "test"},
        }
    }
    with build(raw) as layer:
        assert layer.prefix == "prod" and layer.capacity == 50
    with build(raw, test=True) as layer:
        assert layer.prefix == "test" and layer.capacity == 100
    manager = ChannelLayerManager(load_settings(raw, {}), test=True)
    assert manager["default"].prefix == "test"
    manager.close_all()


# -- environment override -------------------------------------------------------------------


def test_env_override_replaces_backend_of_default() -> None:
    raw = {
        "default": {
            "BACKEND": "layers.inmemory:InMemoryChannelLayer",
            "CONFIG": {"prefix": "keep", "hosts": ["ignored"]},
            "ROUTING": [],
        }
    }
    settings = load_settings(raw, {"CHANNEL_LAYER_URL": "memory://?capacity=4"})["default"]
    assert settings.backend == "memory://?capacity=4"
    # another backend: only the options every layer understands are kept
    assert settings.config == {"prefix": "keep"}
    assert settings.routing == []
    with build_layer(settings) as layer:
        assert layer.capacity == 4 and layer.prefix == "keep"


def test_env_override_per_alias_and_precedence() -> None:
    raw = {"default": {"BACKEND": "inmemory"}, "fast-lane": {"BACKEND": "inmemory"}}
    env = {
        "CHANNEL_LAYER_URL": "memory://?capacity=2",
        "CHANNEL_LAYER_URL_DEFAULT": "memory://?capacity=3",
        "CHANNEL_LAYER_URL_FAST_LANE": "memory://?capacity=5",
        "CHANNEL_LAYER_URL_EXTRA": "memory://?capacity=6",
    }
    settings = load_settings(raw, env)
    assert settings["default"].backend == "memory://?capacity=3"  # the specific variable wins
    assert settings["fast-lane"].backend == "memory://?capacity=5"
    assert settings["extra"].backend == "memory://?capacity=6"  # defined by its override
    with build_layer(settings["fast-lane"]) as layer:
        assert layer.capacity == 5


def test_same_backend_override_keeps_backend_specific_config() -> None:
    raw = {"default": {"BACKEND": "inmemory", "CONFIG": {"capacity": 8}}}
    settings = load_settings(raw, {"CHANNEL_LAYER_URL": "memory://?expiry=9"})["default"]
    assert settings.config == {"capacity": 8}


def test_env_override_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNEL_LAYER_URL", "memory://?capacity=12")
    manager = ChannelLayerManager()
    assert manager["default"].capacity == 12
    manager.close_all()


# -- one clear error per misconfiguration ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([("default", {})], "CHANNEL_LAYERS: must be a dict"),
        ({"default": "inmemory"}, "CHANNEL_LAYERS['default']: must be a dict with 'BACKEND'"),
        ({"default": {}}, "CHANNEL_LAYERS['default']['BACKEND']: must be a backend short name"),
        ({"default": {"BACKEND": 3}}, "CHANNEL_LAYERS['default']['BACKEND']: must be"),
        (
            {"default": {"BACKEND": "inmemory", "BACKENDS": "x"}},
            "CHANNEL_LAYERS['default']['BACKENDS']: unknown key",
        ),
        (
            {"default": {"BACKEND": "mongodb"}},
            "CHANNEL_LAYERS['default']['BACKEND']: 'mongodb' is not a backend short name",
        ),
        (
            {"default": {"BACKEND": "mqtt://host"}},
            "CHANNEL_LAYERS['default']['BACKEND']: unknown URL scheme 'mqtt'",
        ),
        (
            {"default": {"BACKEND": "nosuch_pkg.mod:Layer"}},
            "CHANNEL_LAYERS['default']['BACKEND']: cannot import 'nosuch_pkg.mod'",
        ),
        (
            {"default": {"BACKEND": "layers.inmemory:NoSuchLayer"}},
            "CHANNEL_LAYERS['default']['BACKEND']: module 'layers.inmemory' has no attribute",
        ),
        (
            {"default": {"BACKEND": "memory://?capacity=lots"}},
            "CHANNEL_LAYERS['default']['BACKEND']: option 'capacity' in URL",
        ),
        (
            {"default": {"BACKEND": "inmemory", "CONFIG": []}},
            "CHANNEL_LAYERS['default']['CONFIG']: must be a dict of layer options",
        ),
        (
            {"default": {"BACKEND": "inmemory", "CONFIG": {"capacity": -1}}},
            "CHANNEL_LAYERS['default']['CONFIG']['capacity']: must be an int from 1 to 2147483647, "
            "got -1",
        ),
        (
            {"default": {"BACKEND": "inmemory", "CONFIG": {"capacity": 2.5}}},
            "CHANNEL_LAYERS['default']['CONFIG']['capacity']: must be an int from 1 to 2147483647, "
            "got 2.5",
        ),
        (
            {"default": {"BACKEND": "inmemory", "CONFIG": {"expiry": "soon"}}},
            "CHANNEL_LAYERS['default']['CONFIG']['expiry']: must be a finite number > 0",
        ),
        (
            {"default": {"BACKEND": "inmemory", "CONFIG": {"prefix": ""}}},
            "CHANNEL_LAYERS['default']['CONFIG']['prefix']: must be a non-empty str",
        ),
        (
            {"default": {"BACKEND": "inmemory", "CONFIG": {"colour": "blue"}}},
            "CHANNEL_LAYERS['default']['CONFIG']['colour']: colour is not an option of "
            "InMemoryChannelLayer",
        ),
        (
            {"default": {"BACKEND": "inmemory", "CONFIG": {"channel_capacity": 5}}},
            "CHANNEL_LAYERS['default']['CONFIG']['channel_capacity']: must be a dict",
        ),
        (
            {"default": {"BACKEND": "inmemory", "CONFIG": {"channel_capacity": {"a*": 0}}}},
            "CHANNEL_LAYERS['default']['CONFIG']['channel_capacity']: ['a*'] must be an int",
        ),
        (
            {"default": {"BACKEND": "inmemory", "CONFIG": {1: 2}}},
            "CHANNEL_LAYERS['default']['CONFIG']['1']: option names must be identifiers",
        ),
        (
            {"default": {"BACKEND": "inmemory", "TEST_CONFIG": "x"}},
            "CHANNEL_LAYERS['default']['TEST_CONFIG']: must be a dict",
        ),
        (
            {"default": {"BACKEND": "inmemory", "ROUTING": 5}},
            "CHANNEL_LAYERS['default']['ROUTING']: must be a list of routes",
        ),
        ({"": {"BACKEND": "inmemory"}}, "CHANNEL_LAYERS: aliases must be non-empty str"),
    ],
)
def test_every_misconfiguration_names_the_alias_and_key(raw: Any, expected: str) -> None:
    message = config_error(raw)
    assert message.startswith(expected), message


def test_errors_name_other_aliases_too() -> None:
    raw = {"default": {"BACKEND": "inmemory"}, "events": {"BACKEND": "inmemory", "CONFIG": 1}}
    with pytest.raises(ImproperlyConfigured, match=r"^CHANNEL_LAYERS\['events'\]\['CONFIG'\]"):
        load_settings(raw, {})


def test_bad_env_override_names_the_variable() -> None:
    raw = {"default": {"BACKEND": "inmemory"}, "other": {"BACKEND": "inmemory"}}
    with pytest.raises(ImproperlyConfigured) as caught:
        load_settings(raw, {"CHANNEL_LAYER_URL_OTHER": "inmemory"})
    assert str(caught.value).startswith(
        "CHANNEL_LAYER_URL_OTHER (overriding CHANNEL_LAYERS['other']['BACKEND']): must be a URL"
    )
    message = config_error(raw, {"CHANNEL_LAYER_URL": "memory://?expiry=never"})
    assert message.startswith(
        "CHANNEL_LAYER_URL (overriding CHANNEL_LAYERS['default']['BACKEND']): option 'expiry'"
    )


def test_bad_routing_path_is_named_when_the_router_is_built() -> None:
    raw = {"default": {"BACKEND": "inmemory", "ROUTING": "no_such_module_xyz.routing"}}
    manager = ChannelLayerManager(load_settings(raw, {}))
    with pytest.raises(ImproperlyConfigured, match=r"^CHANNEL_LAYERS\['default'\]\['ROUTING'\]"):
        manager["default"].router  # noqa: B018
    manager.close_all()


def test_unknown_alias_is_a_clear_error() -> None:
    manager = ChannelLayerManager(load_settings({"default": {"BACKEND": "inmemory"}}, {}))
    with pytest.raises(ImproperlyConfigured, match=r"'nope'\]: no such channel layer alias"):
        manager["nope"]


def test_wrapper_passes_attributes_to_the_layer() -> None:
    raw = {"default": {"BACKEND": "inmemory", "ROUTING": "tests.core.test_settings.ROUTING"}}
    manager = ChannelLayerManager(load_settings(raw, {}))
    wrapper = manager["default"]
    assert wrapper.alias == "default"
    assert wrapper.router.channels == {"a"}
    assert wrapper.extensions == ["groups", "flush", "statistics", "asyncio", "async", "twisted"]
    wrapper.send("a", {"x": 1})
    assert wrapper.receive(["a"]) == ("a", {"x": 1})
    with pytest.raises(AttributeError):
        wrapper.no_such_attribute  # noqa: B018
    manager.close_all()
    assert wrapper.closed


def _noop(message: Any) -> None: ...


ROUTING: list[Any] = []


def _routing() -> None:
    from channels_core import route

    ROUTING.append(route("a", _noop))


_routing()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_builds_its_own_layers() -> None:
    manager = ChannelLayerManager(load_settings({"default": {"BACKEND": "inmemory"}}, {}))
    parent = manager["default"]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        same = manager["default"] is parent
        os.write(write, b"same" if same else b"new")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 10)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"new"
    assert manager["default"] is parent
    manager.close_all()
