"""Where channel layers are configured: ``CHANNEL_LAYERS``, read from Django or a plain module.

Format::

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "redis://127.0.0.1:6379/0?capacity=500",  # short name, dotted path or URL
            "CONFIG": {"prefix": "myapp", "expiry": 30},          # keyword options of the layer
            "ROUTING": "myapp.routing.channel_routing",           # a list, or a dotted path to one
            "TEST_CONFIG": {"prefix": "myapp-test"},              # replaces CONFIG under test=True
        },
    }

Source, first that applies:

1. Django settings, when Django is configured (``DJANGO_SETTINGS_MODULE`` is set or
   ``settings.configure()`` was called) and they define ``CHANNEL_LAYERS``;
2. the Python module named by the environment variable ``CHANNELS_SETTINGS_MODULE``;
3. the default ``{"default": {"BACKEND": "inmemory"}}``.

Environment override, per alias, without code changes: ``CHANNEL_LAYER_URL`` (alias
``default``) and ``CHANNEL_LAYER_URL_<ALIAS>`` (the alias upper-cased, other characters than
letters and digits turned into ``_``) replace ``BACKEND`` with a URL (its ``?key=value`` options
included). ``CONFIG`` still applies, except that when the override selects another backend than
``BACKEND`` did, only the options every layer understands are kept (``expiry``,
``group_expiry``, ``capacity``, ``channel_capacity``, ``prefix``, ``message_size_limit``,
``blocking_timeout``). An override for an alias that is not configured defines it.

Every misconfiguration raises ONE :class:`~channels_core.exceptions.ImproperlyConfigured` whose
message starts with the setting path, e.g.
``CHANNEL_LAYERS['default']['CONFIG']['capacity']: must be a positive int, got -1``.

Other settings read from the same source: ``CHANNEL_SESSION_STORE`` (dotted path of a callable
returning a :class:`~channels_core.session_store.SessionStore`) and ``CHANNEL_SESSION_TTL``
(seconds, default 86400).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ImproperlyConfigured
from .options import COMMON_OPTIONS as COMMON_OPTION_TABLE
from .registry import registry

DEFAULT_CHANNEL_LAYER = "default"
SETTINGS_MODULE_ENV = "CHANNELS_SETTINGS_MODULE"
URL_ENV = "CHANNEL_LAYER_URL"
DEFAULT_SETTINGS: dict[str, Any] = {DEFAULT_CHANNEL_LAYER: {"BACKEND": "inmemory"}}

_KEYS = ("BACKEND", "CONFIG", "ROUTING", "TEST_CONFIG")

#: Options every layer accepts (BaseChannelLayer); checked here so that the error names the
#: setting path exactly.
COMMON_OPTIONS = frozenset(COMMON_OPTION_TABLE)


@dataclass(frozen=True)
class LayerSettings:
    """The validated settings of one alias."""

    alias: str
    backend: str
    config: dict[str, Any] = field(default_factory=dict)
    routing: Any = None
    test_config: dict[str, Any] | None = None
    #: Where ``backend`` came from: the setting path or the environment variable.
    backend_source: str = ""

    def options(self, test: bool = False) -> dict[str, Any]:
        """The layer's keyword options (``TEST_CONFIG`` instead of ``CONFIG`` when ``test``)."""
        if test and self.test_config is not None:
            return dict(self.test_config)
        return dict(self.config)


def setting_path(alias: str, *keys: str) -> str:
    """``CHANNEL_LAYERS['alias']['KEY']...``: how errors name a setting."""
    return "CHANNEL_LAYERS" + "".join(f"[{key!r}]" for key in (alias, *keys))


def url_env_var(alias: str) -> str:
    """The environment variable overriding ``alias``'s BACKEND."""
    return f"{URL_ENV}_{re.sub(r'[^A-Z0-9]', '_', alias.upper())}"


# -- reading the raw settings ---------------------------------------------------------------


def _django_settings() -> Any | None:
    if "django" not in sys.modules and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return None
    try:
        from django.conf import settings
    except ImportError:
        return None
    if not (settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE")):
        return None
    return settings


def django_configured() -> bool:
    """Whether settings come from Django (it is configured) rather than a plain module."""
    return _django_settings() is not None


def _settings_module() -> Any | None:
    name = os.environ.get(SETTINGS_MODULE_ENV)
    if not name:
        return None
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"{SETTINGS_MODULE_ENV}={name!r}: cannot import it: {error}"
        ) from None


def read_setting(name: str, default: Any = None) -> Any:
    """A top-level setting (e.g. ``CHANNEL_SESSION_STORE``) from Django or the settings module."""
    django_settings = _django_settings()
    if django_settings is not None and hasattr(django_settings, name):
        return getattr(django_settings, name)
    module = _settings_module()
    if module is not None and hasattr(module, name):
        return getattr(module, name)
    return default


def raw_channel_layers() -> Any:
    """``CHANNEL_LAYERS`` as written, or the default if no source defines it."""
    django_settings = _django_settings()
    if django_settings is not None and getattr(django_settings, "CHANNEL_LAYERS", None):
        return django_settings.CHANNEL_LAYERS
    module = _settings_module()
    if module is not None and getattr(module, "CHANNEL_LAYERS", None) is not None:
        return module.CHANNEL_LAYERS
    return DEFAULT_SETTINGS


# -- validation -------------------------------------------------------------------------------


def load_settings(
    raw: Any = None, environ: Mapping[str, str] | None = None
) -> dict[str, LayerSettings]:
    """Validate ``CHANNEL_LAYERS`` (read from the sources when ``raw`` is None), apply the
    environment overrides, and return the settings of every alias."""
    if raw is None:
        raw = raw_channel_layers()
    environ = os.environ if environ is None else environ
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(
            f"CHANNEL_LAYERS: must be a dict of alias -> layer settings, got {type(raw).__name__}"
        )
    result: dict[str, LayerSettings] = {}
    for alias, entry in raw.items():
        if not isinstance(alias, str) or not alias:
            raise ImproperlyConfigured(
                f"CHANNEL_LAYERS: aliases must be non-empty str, got {alias!r}"
            )
        result[alias] = _layer_settings(alias, entry)
    for alias, (var, url) in _env_overrides(result, environ).items():
        result[alias] = _override(result.get(alias), alias, var, url)
    return result


def _layer_settings(alias: str, entry: Any) -> LayerSettings:
    if not isinstance(entry, Mapping):
        raise ImproperlyConfigured(
            f"{setting_path(alias)}: must be a dict with 'BACKEND' (and optionally 'CONFIG', "
            f"'ROUTING', 'TEST_CONFIG'), got {type(entry).__name__}"
        )
    unknown = [key for key in entry if key not in _KEYS]
    if unknown:
        raise ImproperlyConfigured(
            f"{setting_path(alias, str(unknown[0]))}: unknown key; allowed keys are "
            f"{', '.join(_KEYS)}"
        )
    backend = entry.get("BACKEND")
    if not isinstance(backend, str) or not backend.strip():
        raise ImproperlyConfigured(
            f"{setting_path(alias, 'BACKEND')}: must be a backend short name "
            f"({registry().describe()}), a dotted path or a URL, got {backend!r}"
        )
    config = check_config(entry.get("CONFIG", {}), alias, "CONFIG")
    test_config = entry.get("TEST_CONFIG")
    if test_config is not None:
        test_config = check_config(test_config, alias, "TEST_CONFIG")
    routing = entry.get("ROUTING")
    if routing is not None and not isinstance(routing, (str, list, tuple, Mapping)):
        raise ImproperlyConfigured(
            f"{setting_path(alias, 'ROUTING')}: must be a list of routes or a dotted path to "
            f"one, got {type(routing).__name__}"
        )
    return LayerSettings(
        alias, backend.strip(), config, routing, test_config, setting_path(alias, "BACKEND")
    )


def check_config(config: Any, alias: str, key: str) -> dict[str, Any]:
    """Check a CONFIG dict: str keys, and the common options' types and ranges."""
    if not isinstance(config, Mapping):
        raise ImproperlyConfigured(
            f"{setting_path(alias, key)}: must be a dict of layer options, "
            f"got {type(config).__name__}"
        )
    for name, value in config.items():
        path = setting_path(alias, key, str(name))
        if not isinstance(name, str) or not name.isidentifier():
            raise ImproperlyConfigured(f"{path}: option names must be identifiers (str)")
        option = COMMON_OPTION_TABLE.get(name)
        if option is not None:
            try:
                option.check(value)
            except ValueError as error:  # ImproperlyConfigured included
                raise ImproperlyConfigured(f"{path}: {error}") from None
    return dict(config)


def _env_overrides(
    configured: Mapping[str, LayerSettings], environ: Mapping[str, str]
) -> dict[str, tuple[str, str]]:
    """alias -> (environment variable, URL) for every override set in ``environ``."""
    overrides: dict[str, tuple[str, str]] = {}
    general = environ.get(URL_ENV, "").strip()
    if general:
        overrides[DEFAULT_CHANNEL_LAYER] = (URL_ENV, general)
    by_var = {url_env_var(alias): alias for alias in configured}
    for var, value in environ.items():
        if not var.startswith(URL_ENV + "_") or not value.strip():
            continue
        # The specific variable wins over CHANNEL_LAYER_URL; an alias that is not configured
        # is defined by its override (the variable's suffix, lower-cased).
        alias = by_var.get(var, var[len(URL_ENV) + 1 :].lower())
        overrides[alias] = (var, value.strip())
    return overrides


def _override(current: LayerSettings | None, alias: str, var: str, url: str) -> LayerSettings:
    if "://" not in url:
        raise ImproperlyConfigured(
            f"{var} (overriding {setting_path(alias, 'BACKEND')}): must be a URL such as "
            f"redis://127.0.0.1:6379/0 or memory://, got {url!r}"
        )
    source = f"{var} (overriding {setting_path(alias, 'BACKEND')})"
    if current is None:
        return LayerSettings(alias, url, {}, None, None, source)
    config, test_config = current.config, current.test_config
    if backend_family(url) != backend_family(current.backend):
        config = {k: v for k, v in config.items() if k in COMMON_OPTIONS}
        if test_config is not None:
            test_config = {k: v for k, v in test_config.items() if k in COMMON_OPTIONS}
    return LayerSettings(alias, url, config, current.routing, test_config, source)


def backend_family(backend: str) -> str:
    """The short backend name a BACKEND value selects (a dotted path stands for itself)."""
    found = registry().for_spec(backend)
    return backend if found is None else found.name


# -- building ---------------------------------------------------------------------------------


def build_layer(settings: LayerSettings, test: bool = False, **overrides: Any) -> Any:
    """Build the raw layer of ``settings``; errors name the alias and the key at fault."""
    from .loading import load_layer

    key = "TEST_CONFIG" if test and settings.test_config is not None else "CONFIG"
    options = {**settings.options(test), **overrides}
    try:
        return load_layer(settings.backend, **options)
    except ImproperlyConfigured as error:
        raise ImproperlyConfigured(_locate(settings, key, options, str(error))) from None
    except (TypeError, ValueError) as error:
        raise ImproperlyConfigured(_locate(settings, key, options, str(error))) from None


def _locate(settings: LayerSettings, key: str, options: Mapping[str, Any], message: str) -> str:
    """Prefix ``message`` with the most precise setting path it is about: an option of CONFIG
    when the message names one (``unexpected keyword argument 'x'``, ``capacity must be...``),
    else where BACKEND came from (the setting or the environment variable)."""
    named = re.search(r"keyword argument '(\w+)'", message)
    if named:
        return f"{setting_path(settings.alias, key, named.group(1))}: {message}"
    if "in URL" not in message:  # options inside the URL belong to BACKEND
        for name in sorted(options, key=len, reverse=True):
            if message.startswith(name) and not message[len(name) : len(name) + 1].isalnum():
                return f"{setting_path(settings.alias, key, name)}: {message}"
    return f"{settings.backend_source}: {message}"
