"""Developer sessions: ``nox -s tests``, ``conformance``, ``lint`` and ``bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
BACKENDS = ["inmemory", "redis", "postgres", "kafka", "rabbitmq"]


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole test suite against the real servers (it starts them if they are down)."""
    session.install("-e", ".[all,test,bench]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
@nox.parametrize("backend", BACKENDS)
def conformance(session: nox.Session, backend: str) -> None:
    """The conformance suite against one backend, as a report."""
    session.install("-e", ".[all,test]")
    session.run("python", "-m", "conformance", backend, *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy."""
    session.install("-e", ".[all,test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmark (SPEC §9): every reachable backend and its peers; table, JSON and chart."""
    session.install("-e", ".[all,bench]")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(python="3.11")
def peers(session: nox.Session) -> None:
    """The conformance suite on the Channels 4 peers (bench extra), written into
    docs/conformance.md (one time limit per peer; reproducible: derandomized)."""
    session.install("-e", ".[all,test,bench]")
    session.run(
        "python",
        "-m",
        "conformance",
        "matrix",
        "--peers",
        "--write",
        "docs/conformance.md",
        *session.posargs,
    )
