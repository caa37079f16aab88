"""load_layer: short names, URLs, dotted paths, and clear errors for everything else."""

from __future__ import annotations

import pytest

from channels_core import ImproperlyConfigured, load_layer
from layers.inmemory import InMemoryChannelLayer


@pytest.mark.parametrize(
    "spec",
    [
        "inmemory",
        "memory",
        "memory://",
        "layers.inmemory:InMemoryChannelLayer",
        "layers.inmemory.InMemoryChannelLayer",
    ],
)
def test_every_spec_form_builds_the_in_memory_layer(spec: str) -> None:
    with load_layer(spec) as layer:
        assert isinstance(layer, InMemoryChannelLayer)


def test_config_becomes_constructor_options() -> None:
    layer = load_layer("inmemory", capacity=7, expiry=3, prefix="p")
    assert (layer.capacity, layer.expiry, layer.prefix) == (7, 3.0, "p")


def test_url_options_override_config() -> None:
    layer = load_layer("memory://?capacity=5&expiry=2.5", capacity=9, group_expiry=10)
    assert (layer.capacity, layer.expiry, layer.group_expiry) == (5, 2.5, 10.0)


def test_bad_url_option_value_names_the_option() -> None:
    with pytest.raises(ImproperlyConfigured, match="'capacity'"):
        load_layer("memory://?capacity=lots")


def test_unknown_option_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^capacityy is not an option of"):
        load_layer("inmemory", capacityy=3)


def test_unknown_backend_and_scheme() -> None:
    with pytest.raises(ImproperlyConfigured, match="unknown URL scheme 'ftp'"):
        load_layer("ftp://host")
    with pytest.raises(ImproperlyConfigured, match="not a backend short name"):
        load_layer("nosuchbackend")
    with pytest.raises(ImproperlyConfigured, match="cannot import"):
        load_layer("no_such_module:Layer")
    with pytest.raises(ImproperlyConfigured, match="has no attribute"):
        load_layer("layers.inmemory:Nope")


def test_dotted_path_must_produce_a_layer() -> None:
    with pytest.raises(ImproperlyConfigured, match="not a channel layer"):
        load_layer("collections:OrderedDict")


def test_passwords_never_appear_in_errors() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        load_layer("ftp://user:hunter2@host")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("value", [0, -1, "x", None])
def test_bad_common_options(value: object) -> None:
    with pytest.raises(ImproperlyConfigured, match="expiry"):
        load_layer("inmemory", expiry=value)


# -- the options table: numbers finite and in range, unknown keys refused, at build time -------


@pytest.mark.parametrize(
    ("spec", "config", "key"),
    [
        ("inmemory", {"expiry": float("nan")}, "expiry"),
        ("inmemory", {"group_expiry": float("inf")}, "group_expiry"),
        ("inmemory", {"blocking_timeout": float("inf")}, "blocking_timeout"),
        ("memory://?expiry=nan", {}, "expiry"),
        ("memory://?blocking_timeout=inf", {}, "blocking_timeout"),
        ("memory://?capacity=2147483648", {}, "capacity"),
        ("inmemory", {"capacity": 2**31}, "capacity"),
        ("inmemory", {"message_size_limit": 2**40}, "message_size_limit"),
        ("inmemory", {"channel_capacity": [("a*",)]}, "channel_capacity"),
        ("inmemory", {"channel_capacity": {"a*": float("nan")}}, "channel_capacity"),
        ("inmemory", {"channel_capacity": {"a*": 2**31}}, "channel_capacity"),
        ("inmemory", {"channel_capacity": {5: 3}}, "channel_capacity"),
        ("memory://?channel_capacity=3", {}, "channel_capacity"),
        ("memory://?capacityy=3", {}, "capacityy"),
    ],
)
def test_out_of_range_or_unknown_options_are_refused_when_built(
    spec: str, config: dict[str, object], key: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=key):
        load_layer(spec, **config)


def test_the_same_check_applies_to_keywords_urls_and_settings() -> None:
    from channels_core.settings import build_layer, load_settings

    for make in (
        lambda: InMemoryChannelLayer(expiry=float("nan")),
        lambda: load_layer("memory://?expiry=nan"),
        lambda: build_layer(
            load_settings({"default": {"BACKEND": "inmemory", "CONFIG": {"expiry": 1e300}}})[
                "default"
            ]
        ),
    ):
        with pytest.raises(ImproperlyConfigured, match=r"expiry.*must be a finite number > 0"):
            make()


def test_a_client_library_url_option_is_left_in_the_url() -> None:
    from channels_core.options import COMMON_OPTIONS

    table = COMMON_OPTIONS.extend(client_url_keys=lambda key: key.startswith("ssl_"))
    url, options = table.split_url("redis://h/0?capacity=5&ssl_ca_certs=%2Fa%20b&prefix=x")
    assert url == "redis://h/0?ssl_ca_certs=%2Fa%20b"
    assert options == {"capacity": 5, "prefix": "x"}


def test_an_option_declared_twice_is_refused() -> None:
    from channels_core.options import COMMON_OPTIONS, Option, text

    with pytest.raises(ValueError, match="'prefix' is declared twice"):
        COMMON_OPTIONS.extend(Option("prefix", "x", text))


@pytest.mark.parametrize(
    ("spec", "config", "key"),
    [
        ("redis://127.0.0.1:6379/0?expiry=1e300", {}, "expiry"),
        ("redis://127.0.0.1:6379/0", {"expiry": 1e300}, "expiry"),
        ("redis://127.0.0.1:6379/0?bogus=1", {}, "bogus"),
        ("redis://127.0.0.1:6379/0?drain=0", {}, "drain"),
        ("redis://127.0.0.1:6379/0", {"socket_timeout": float("inf")}, "socket_timeout"),
        ("postgresql://postgres@127.0.0.1:5432/test", {"capacity": 2**31}, "capacity"),
        ("postgresql://postgres@127.0.0.1:5432/test?capacity=2147483648", {}, "capacity"),
        ("postgresql://postgres@127.0.0.1:5432/test?bogus=1", {}, "bogus"),
        ("postgresql://postgres@127.0.0.1:5432/test", {"poll_interval": float("nan")}, "poll"),
    ],
)
def test_network_backends_refuse_bad_options_before_connecting(
    spec: str, config: dict[str, object], key: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=key):
        load_layer(spec, **config)


def test_client_library_url_options_still_reach_the_client() -> None:
    with load_layer("redis://127.0.0.1:6379/0?health_check_interval=5&ssl_cert_reqs=none") as r:
        assert r.capacity == 100
    with load_layer("postgresql://postgres@127.0.0.1:5432/test?application_name=x&capacity=3") as p:
        assert p.capacity == 3
