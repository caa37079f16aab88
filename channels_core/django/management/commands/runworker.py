"""``manage.py runworker``: run a channels-core worker with the project's Django settings.

Same options and behaviour as ``channels-core runworker`` (:mod:`channels_core.cli`)::

    manage.py runworker [--layer ALIAS] [--routing dotted.path] [--only-channels GLOB ...]
                        [--exclude-channels GLOB ...] [--threads N]

It consumes the routing of ``CHANNEL_LAYERS[ALIAS]['ROUTING']`` until SIGTERM or SIGINT, which
let the messages being consumed finish. After every message the worker thread closes its
database connections that are too old or broken (``close_old_connections``), as Django does
after every request and Channels 1.x did after every consumer, so consumers that use the ORM
behave under ``CONN_MAX_AGE`` as views do.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from channels_core.argtypes import positive_int
from channels_core.cli import cmd_runworker
from channels_core.exceptions import ImproperlyConfigured


def close_old_connections_after(outcome: str, channel: str) -> None:
    """The worker's ``on_message`` callback: Django's end-of-request connection cleanup."""
    close_old_connections()


class Command(BaseCommand):
    help = "Run a channels-core worker: consume the channels of the layer's ROUTING."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--layer", default=None, help="CHANNEL_LAYERS alias (default: 'default') or a URL"
        )
        parser.add_argument("--routing", default=None, help="dotted path of a routing list")
        parser.add_argument("--only-channels", nargs="+", metavar="GLOB", default=None)
        parser.add_argument("--exclude-channels", nargs="+", metavar="GLOB", default=None)
        parser.add_argument("--threads", type=positive_int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        namespace = argparse.Namespace(
            layer=options["layer"],
            routing=options["routing"],
            only_channels=options["only_channels"],
            exclude_channels=options["exclude_channels"],
            threads=options["threads"],
            on_message=close_old_connections_after,
        )
        try:
            cmd_runworker(namespace)
        except ImproperlyConfigured as error:
            raise CommandError(f"configuration error: {error}") from None
