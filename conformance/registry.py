"""The clause registry: every conformance check, with a stable id, a title and the SPEC text.

A clause is a function ``check(ctx)`` that raises ``AssertionError`` (or any exception) when the
layer under test breaks the quoted rule, and returns when it keeps it. Clause ids are stable
(``family.name``, e.g. ``order.fifo``); a layer's ``deviations`` may name a clause id or a
family prefix (``cross-process`` covers ``cross-process.visibility`` and its siblings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import Context

Check = Callable[["Context"], None]


class NotApplicable(Exception):
    """Raised by a clause, or by an adapter it drives, when the layer's API cannot express the
    check (e.g. a receive over several channels on a Channels 4 layer). The clause is reported
    as "not applicable" with the message as the reason: neither passed nor failed."""


@dataclass(frozen=True)
class Clause:
    """One rule of the contract and the check that enforces it."""

    id: str
    title: str
    section: str
    quote: str
    check: Check
    #: The extension the layer must declare (``layer.extensions``) for this clause to apply.
    extension: str | None = None
    #: Whether the check sleeps on purpose (expiry and timeouts); used to order and report.
    slow: bool = False

    def __repr__(self) -> str:
        return f"<Clause {self.id}>"

    def deviation_reason(self, deviations: dict[str, str]) -> str | None:
        """The reason a layer gives for deviating from this clause, if it declares one."""
        for key, reason in deviations.items():
            if self.id == key or self.id.startswith(key + "."):
                return str(reason)
        return None


CLAUSES: dict[str, Clause] = {}

#: Earlier names a layer may declare for an extension: ``async`` is ASGI 1.0's ``asyncio``.
EXTENSION_ALIASES: dict[str, str] = {"async": "asyncio"}


def declares(extensions: list[str], extension: str) -> bool:
    """Whether a layer listing ``extensions`` declares ``extension`` (by name or alias)."""
    return any(EXTENSION_ALIASES.get(name, name) == extension for name in extensions)


def clause(
    id: str,
    title: str,
    section: str,
    *,
    extension: str | None = None,
    slow: bool = False,
) -> Callable[[Check], Check]:
    """Register ``check`` under ``id``; its docstring is the quoted SPEC clause."""

    def register(check: Check) -> Check:
        if id in CLAUSES:
            raise ValueError(f"duplicate conformance clause id {id!r}")
        quote = " ".join((check.__doc__ or "").split())
        CLAUSES[id] = Clause(id, title, section, quote, check, extension, slow)
        return check

    return register


def all_clauses() -> dict[str, Clause]:
    """Every registered clause, in registration order (imports the clause modules once)."""
    from . import clauses  # noqa: F401  (registers on import)

    return CLAUSES


def select(ids: list[str] | None) -> list[Clause]:
    """The clauses named by ``ids`` (exact ids or family prefixes); all of them for ``None``."""
    registry = all_clauses()
    if ids is None:
        return list(registry.values())
    chosen: list[Clause] = []
    for wanted in ids:
        matches = [c for c in registry.values() if c.id == wanted or c.id.startswith(wanted + ".")]
        if not matches:
            raise KeyError(f"no conformance clause or family named {wanted!r}")
        chosen.extend(c for c in matches if c not in chosen)
    return chosen
