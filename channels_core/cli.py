"""The ``channels-core`` command (also ``python -m channels_core``).

Subcommands:

``runworker [--layer ALIAS_OR_URL] [--routing dotted.path] [--only-channels GLOB ...]
[--exclude-channels GLOB ...] [--threads N]``
    Run a worker for the layer's routing until SIGTERM/SIGINT (the current messages finish).
``demo [--layer ALIAS_OR_URL] [--messages N] [--threads N]``
    Run the example app (:mod:`channels_core.demo`) end to end and print what happened; exit 0
    when nothing was lost.
``check [--layer ALIAS_OR_URL]``
    Connect, describe the layer (class, extensions, deviations), do a send/receive round trip
    and a group round trip, print statistics; exit 1 if any step fails.
``backends [--markdown]``
    List the registered backends (:mod:`channels_core.registry`): short names, URL schemes,
    what to install, and whether their client library is installed here; ``--markdown`` prints
    the README's backend table.
``bench ...``
    Run the benchmark (``python -m bench`` of the source checkout; it is not installed with
    the core) with the remaining arguments.

``--layer`` takes an alias of ``CHANNEL_LAYERS`` (default ``default``) or anything
:func:`~channels_core.loading.load_layer` accepts: a short backend name, a dotted path or a URL
such as ``redis://127.0.0.1:6379/0``. For ``runworker``, a layer given that way becomes this
process's ``default`` alias, so consumers' ``Channel(name)`` send on it.

Exit status: 0 success, 1 failure (lost messages, unhealthy layer), 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .argtypes import positive_int
from .exceptions import ChannelLayerError, ImproperlyConfigured
from .loading import load_layer
from .manager import ChannelLayerWrapper, channel_layers
from .registry import Backend, registry
from .settings import DEFAULT_CHANNEL_LAYER
from .urls import redact

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def describe(spec: str | None) -> str:
    """What ``--layer`` named, safe to print (passwords redacted)."""
    if spec is None:
        return f"alias {DEFAULT_CHANNEL_LAYER!r}"
    if spec in channel_layers:
        return f"alias {spec!r}"
    return redact(spec)


def open_layer(
    spec: str | None,
    routing: Any = None,
    fresh: bool = False,
    **overrides: Any,
) -> ChannelLayerWrapper:
    """The layer ``--layer`` names: an alias (cached unless ``fresh`` or ``overrides``) or a
    spec for ``load_layer`` (always a new layer). ``routing`` replaces the configured one."""
    alias = spec or DEFAULT_CHANNEL_LAYER
    if alias in channel_layers:
        if fresh or overrides:
            wrapper = channel_layers.make_wrapper(alias, **overrides)
        else:
            wrapper = channel_layers[alias]
        if routing is not None:
            wrapper = ChannelLayerWrapper(wrapper.channel_layer, alias, routing)
        return wrapper
    try:
        raw = load_layer(alias, **overrides)
    except ImproperlyConfigured as error:
        raise ImproperlyConfigured(f"--layer {redact(alias)!r}: {error}") from None
    if routing is None and DEFAULT_CHANNEL_LAYER in channel_layers:
        routing = channel_layers.configs[DEFAULT_CHANNEL_LAYER].routing
    return ChannelLayerWrapper(raw, DEFAULT_CHANNEL_LAYER, routing)


# -- subcommands ------------------------------------------------------------------------------


def cmd_runworker(args: argparse.Namespace) -> int:
    from .worker import Worker

    wrapper = open_layer(args.layer, routing=args.routing)
    if args.layer is None or args.layer not in channel_layers or args.routing is not None:
        channel_layers.set(wrapper.alias, wrapper)  # consumers' Channel(name) use this layer
    if not wrapper.router.channels:
        raise ImproperlyConfigured(
            f"CHANNEL_LAYERS[{wrapper.alias!r}]['ROUTING']: no routes; give --routing "
            "dotted.path.to.routing or set ROUTING"
        )
    worker = Worker(
        wrapper,
        only_channels=args.only_channels,
        exclude_channels=args.exclude_channels,
        threads=args.threads,
        on_message=getattr(args, "on_message", None),  # manage.py runworker: DB connections
        # Announced once SIGTERM/SIGINT stop it gracefully (a supervisor may signal at once).
        on_start=lambda: print(
            f"channels-core worker on {describe(args.layer)} "
            f"({type(wrapper.channel_layer).__name__}), {args.threads} thread(s), "
            f"listening on: {', '.join(worker.channels)}",
            flush=True,
        ),
    )
    try:
        worker.run()
    finally:
        channel_layers.close_all()
    print(f"worker stopped: {dict(worker.stats)}", flush=True)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    prefix = f"demo-{uuid.uuid4().hex[:10]}"
    options = {"prefix": prefix, "blocking_timeout": 0.25}
    worker_layer = open_layer(args.layer, routing=demo.routing, fresh=True, **options)
    client_layer: Any = worker_layer
    layer_class = type(worker_layer.channel_layer)
    if "cross-process" not in getattr(layer_class, "deviations", {}):
        client_layer = open_layer(args.layer, routing=demo.routing, fresh=True, **options)
    try:
        result = demo.run_demo(worker_layer, client_layer, args.messages, args.threads)
        demo.report(result, f"{describe(args.layer)}, prefix {prefix}", args.threads, print)
    finally:
        for layer in {id(worker_layer): worker_layer, id(client_layer): client_layer}.values():
            try:
                if "flush" in getattr(layer, "extensions", ()):
                    layer.flush()
            finally:
                layer.close()
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    wrapper = open_layer(args.layer, fresh=True)
    layer = wrapper.channel_layer
    healthy = True
    try:
        cls = type(layer)
        print(f"layer: {cls.__module__}.{cls.__qualname__} from {describe(args.layer)}")
        backend = _backend_of(args.layer, wrapper.alias)
        if backend is not None:
            print(f"backend: {backend.name} (pip install '{backend.install}')")
        print(f"prefix: {getattr(layer, 'prefix', 'n/a')}")
        extensions = list(getattr(layer, "extensions", []))
        print(f"extensions: {', '.join(extensions) or 'none'}")
        deviations = dict(getattr(layer, "deviations", {}))
        print("deviations:" + ("" if deviations else " none"))
        for clause, reason in deviations.items():
            print(f"  - {clause}: {reason}")
        healthy = _step("round trip", lambda: _round_trip(layer))
        if not healthy:
            print("(the other steps need the round trip; skipped)")
        if healthy and "groups" in extensions:
            healthy &= _step("group round trip", lambda: _group_round_trip(layer))
        if healthy and "statistics" in extensions:
            healthy &= _step("statistics", lambda: _format_stats(layer.global_statistics()))
    finally:
        layer.close()
    print("healthy" if healthy else "UNHEALTHY")
    return EXIT_OK if healthy else EXIT_FAILED


def _backend_of(spec: str | None, alias: str) -> Backend | None:
    """The registered backend ``--layer`` selected (through its alias's BACKEND if an alias)."""
    if spec is None or spec in channel_layers:
        return registry().for_spec(channel_layers.configs[alias].backend)
    return registry().for_spec(spec)


def cmd_backends(args: argparse.Namespace) -> int:
    if args.markdown:
        print(backend_table())
        return EXIT_OK
    for backend in registry():
        names = ", ".join((backend.name, *backend.aliases))
        schemes = ", ".join(f"{scheme}://" for scheme in backend.schemes) or "-"
        try:
            backend.load()
            state = "installed"
        except ImproperlyConfigured as error:
            state = f"not usable: {error}"
        print(f"{names}: {schemes}; {backend.layer}; pip install '{backend.install}'; {state}")
    return EXIT_OK


def backend_table() -> str:
    """The README's backend table, from the registry (and each layer class, when importable)."""
    lines = [
        "| backend | short name / URL | install | extensions | declared deviations |",
        "|---|---|---|---|---|",
    ]
    for backend in registry():
        names = [f"`{name}`" for name in (backend.name, *backend.aliases)]
        names += [f"`{scheme}://`" for scheme in backend.schemes]
        try:
            cls = backend.load()
            extensions = ", ".join(cls.extensions) or "none"
            deviations = ", ".join(getattr(cls, "deviations", {})) or "none"
        except ImproperlyConfigured:
            extensions = deviations = "(client library not installed)"
        lines.append(
            f"| {backend.title or backend.name} | {', '.join(names)} | "
            f"`pip install '{backend.install}'` | {extensions} | {deviations} |"
        )
    return "\n".join(lines)


def _step(name: str, action: Any) -> bool:
    try:
        detail = action()
    except Exception as error:
        print(f"{name}: FAILED: {type(error).__name__}: {error}")
        return False
    print(f"{name}: {detail}")
    return True


def _receive_one(layer: Any, channel: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    name = channel[: channel.index("!") + 1] if "!" in channel else channel
    while time.monotonic() < deadline:
        got, content = layer.receive([name], block=True)
        if got is not None:
            return dict(content)
    raise TimeoutError(f"nothing arrived on {channel!r} within {timeout:.0f} s")


def _round_trip(layer: Any) -> str:
    channel = layer.new_channel("channels-core.check?")
    token = uuid.uuid4().hex
    started = time.perf_counter()
    layer.send(channel, {"check": token, "bytes": b"\x00\xff", "text": "\u00e9\U0001f600"})
    content = _receive_one(layer, channel)
    elapsed = (time.perf_counter() - started) * 1000
    if content != {"check": token, "bytes": b"\x00\xff", "text": "\u00e9\U0001f600"}:
        raise AssertionError(f"received {content!r}, not what was sent")
    return f"ok, send + receive in {elapsed:.2f} ms"


def _group_round_trip(layer: Any) -> str:
    channel = layer.new_channel("channels-core.check?")
    group = f"channels-core-check-{uuid.uuid4().hex[:12]}"
    token = uuid.uuid4().hex
    started = time.perf_counter()
    layer.group_add(group, channel)
    try:
        layer.send_group(group, {"check": token})
        content = _receive_one(layer, channel)
    finally:
        layer.group_discard(group, channel)
    elapsed = (time.perf_counter() - started) * 1000
    if content.get("check") != token:
        raise AssertionError(f"received {content!r}, not what was sent")
    return f"ok, group_add + send_group + receive + group_discard in {elapsed:.2f} ms"


def _format_stats(stats: dict[str, Any]) -> str:
    return ", ".join(
        f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
        for key, value in stats.items()
    )


def cmd_bench(argv: Sequence[str]) -> int:
    """Delegate to ``python -m bench``: the harness of a source checkout, not installed with
    the core (it is found beside the ``channels_core`` package this runs from)."""
    bench_main = _bench_main()
    if bench_main is None:
        print(
            "channels-core bench: the benchmark is not installed with channels-core; run it "
            "from a source checkout: git clone the project, pip install -e '.[all,bench]', "
            "then channels-core bench (or python -m bench)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return int(bench_main(list(argv)) or 0)


def _bench_main() -> Any:
    """``bench.cli.main`` of the checkout holding this package, or None outside a checkout."""
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "bench" / "cli.py").is_file():
        return None
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))  # also inherited by the benchmark's worker processes
    module = importlib.import_module("bench.cli")
    if Path(module.__file__ or "").resolve().parent.parent != checkout:
        return None  # another distribution's "bench" shadows the checkout's
    return module.main


# -- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="channels-core",
        description="Channel layers for Django Channels (ASGI 1.0): workers, demo, checks.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    layer_help = (
        "an alias of CHANNEL_LAYERS (default: 'default') or a backend short name, dotted "
        "path or URL (e.g. redis://127.0.0.1:6379/0)"
    )

    runworker = commands.add_parser("runworker", help="run a worker for the layer's routing")
    runworker.add_argument("--layer", help=layer_help)
    runworker.add_argument("--routing", help="dotted path of a routing list (overrides ROUTING)")
    runworker.add_argument("--only-channels", nargs="+", metavar="GLOB", default=None)
    runworker.add_argument("--exclude-channels", nargs="+", metavar="GLOB", default=None)
    runworker.add_argument("--threads", type=positive_int, default=1)
    runworker.set_defaults(handler=cmd_runworker, log_level=logging.INFO)

    demo = commands.add_parser("demo", help="run the example app end to end and report")
    demo.add_argument("--layer", default="memory://", help=layer_help + " (default: memory://)")
    demo.add_argument("--messages", type=positive_int, default=200, help="request/reply count")
    demo.add_argument("--threads", type=positive_int, default=2, help="worker threads")
    demo.set_defaults(handler=cmd_demo, log_level=logging.WARNING)

    check = commands.add_parser("check", help="connect, round trip, report health")
    check.add_argument("--layer", help=layer_help)
    check.set_defaults(handler=cmd_check, log_level=logging.WARNING)

    backends = commands.add_parser("backends", help="list the registered backends")
    backends.add_argument("--markdown", action="store_true", help="print the README's table")
    backends.set_defaults(handler=cmd_backends, log_level=logging.WARNING)

    commands.add_parser("bench", help="run the benchmark (arguments go to it)", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``channels-core``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return cmd_bench(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except ImproperlyConfigured as error:
        print(f"channels-core {args.command}: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (ChannelLayerError, ConnectionError, OSError) as error:
        print(f"channels-core {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
