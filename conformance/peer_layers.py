"""Peer layers that need a setup step before the suite can build them.

``ChannelsPostgresLayer`` is ``channels_postgres.core.PostgresChannelLayer`` with the setup its
README asks for done on construction: Django settings with ``channels_postgres`` installed and
its migrations applied (``migrate channels_postgres``). The tables live in a schema of their own
(:data:`SCHEMA`, via the connection's ``search_path``), because the layer's ``flush()``
truncates its tables and its listener deletes every queued row: on a shared server, a schema
of its own keeps the suite from touching anyone else's ``channels_postgres`` data.

Built lazily (module ``__getattr__``): importing this module needs neither Django nor
``channels_postgres``.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

#: The PostgreSQL schema holding channels_postgres' tables for the suite.
SCHEMA = "conformance_channels_postgres"
_setup_lock = threading.Lock()


def _database(config: dict[str, Any]) -> dict[str, Any]:
    options = dict(config.get("OPTIONS") or {})
    options["options"] = f"-c search_path={SCHEMA}"
    return {
        "ENGINE": "django.db.backends.postgresql",
        **{k: v for k, v in config.items() if k.isupper()},
        "OPTIONS": options,
    }


def _configure_django() -> None:
    """Django settings with channels_postgres installed (its models load at import)."""
    import django
    from django.conf import settings

    with _setup_lock:
        if not settings.configured:
            settings.configure(INSTALLED_APPS=["channels_postgres"], USE_TZ=True)
            django.setup()


_prepared: set[str] = set()


def _prepare(database: dict[str, Any]) -> None:
    """The schema, and channels_postgres' migrations applied to it (once per process)."""
    import psycopg
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    with _setup_lock:
        if SCHEMA in _prepared:
            return
        connect = {
            "dbname": database.get("NAME"),
            "user": database.get("USER"),
            "password": database.get("PASSWORD") or None,
            "host": database.get("HOST"),
            "port": database.get("PORT"),
        }
        with psycopg.connect(autocommit=True, **{k: v for k, v in connect.items() if v}) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
        databases = {"default": database, "channels_postgres": database}
        settings.DATABASES = databases
        connections.settings.update(connections.configure_settings(databases))
        call_command("migrate", "channels_postgres", database="channels_postgres", verbosity=0)
        connections.close_all()
        _prepared.add(SCHEMA)


@cache
def _channels_postgres_layer() -> type:
    _configure_django()
    from channels_postgres.core import PostgresChannelLayer

    class ChannelsPostgresLayer(PostgresChannelLayer):
        """channels_postgres' layer, set up as its README says, in the suite's own schema."""

        def __init__(
            self,
            prefix: str = "asgi",
            expiry: int = 60,
            group_expiry: int = 0,
            symmetric_encryption_keys: Any = None,
            **config: Any,
        ) -> None:
            from django.db import connections

            # Django's defaults for every key its database wrapper reads (TIME_ZONE, ...).
            database = connections.configure_settings({"default": _database(config)})["default"]
            # Django's ORM refuses to run on an event loop's thread: set up on another one.
            with ThreadPoolExecutor(1) as worker:
                worker.submit(_prepare, database).result()
            super().__init__(
                prefix=prefix,
                expiry=expiry,
                group_expiry=group_expiry,
                symmetric_encryption_keys=symmetric_encryption_keys,
                **database,
            )

    return ChannelsPostgresLayer


def __getattr__(name: str) -> Any:
    if name == "ChannelsPostgresLayer":
        return _channels_postgres_layer()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
