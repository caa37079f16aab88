"""The clause modules; importing this package registers every clause, in report order."""

from __future__ import annotations

import importlib

#: Report order: names, messages, single-process delivery, ..., concurrency, the model.
MODULES = (
    "names",
    "messages",
    "delivery",
    "channels",
    "groups",
    "lifecycle",
    "statistics",
    "async_",
    "twisted_",
    "concurrency",
    "model",
)

for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")
