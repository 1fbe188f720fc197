"""``promptbridge serve``: stream an in-process engine over the Lyria protocol. Network I/O.

    promptbridge serve --engine synth [--host 127.0.0.1] [--port 8765]
                       [--api-key-env VAR] [--tls-cert FILE --tls-key FILE]

Listens on loopback unless told otherwise. With ``--api-key-env VAR`` a client must send
the key held in the environment variable VAR (header ``x-goog-api-key``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import ssl
from collections.abc import Callable
from typing import Any

from bridge.commands import magenta_flags
from bridge.engines import ENGINES, create_engine
from bridge.engines.base import Engine
from bridge.errors import ConfigError, SecretError
from bridge.logs import register_secret

HELP = "serve an in-process engine over the Lyria RealTime protocol"
log = logging.getLogger("bridge.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", default="synth", help="engine to serve (default: synth)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765)")
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="refuse clients that do not send the key held in environment variable VAR",
    )
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain (wss://)")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
    parser.add_argument(
        "--chunk-seconds",
        type=float,
        default=2.0,
        help="seconds of audio per chunk, like Google's service (default: 2.0)",
    )
    parser.add_argument(
        "--ahead",
        type=float,
        default=2.0,
        help="stream at most this many chunks ahead of real time, like the real service "
        "(default: 2; 0 = as fast as the client reads)",
    )
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    magenta_flags.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bridge.cli import setup_logging

    setup_logging(args.log_level)
    api_key = _api_key(args.api_key_env)
    context = _tls(args.tls_cert, args.tls_key)
    if not 0.02 <= args.chunk_seconds <= 10.0:
        raise ConfigError(f"--chunk-seconds must be in 0.02..10, got {args.chunk_seconds:g}")
    if args.engine == "magenta":  # its own granularity: frames per call, not chunk seconds
        factory = _factory(args.engine, **magenta_flags.options(args))
    else:
        factory = _factory(args.engine, chunk_seconds=args.chunk_seconds)
    ahead = args.ahead if args.ahead > 0 else None
    asyncio.run(_serve(factory, args.host, args.port, api_key, context, args.engine, ahead))
    return 0


def _api_key(var: str | None) -> str | None:
    if var is None:
        return None
    key = os.environ.get(var, "").strip()
    if not key:
        raise SecretError(f"--api-key-env {var}: the environment variable is not set or empty")
    register_secret(key)
    return key


def _tls(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("--tls-cert and --tls-key must be given together")
    from bridge.server import ssl_context

    try:
        return ssl_context(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from None


def _factory(name: str, **options: Any) -> Callable[[], Engine]:
    """Check the engine name and that its module imports, then build one per connection."""
    if name not in ENGINES:
        raise ConfigError(f"--engine: unknown engine {name!r} (allowed: {', '.join(ENGINES)})")
    module_name = ENGINES[name].split(":")[0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--engine {name}: not available ({exc})") from None
    shared = getattr(module, "serve_factory", None)
    if shared is not None:  # one model per process, loaded now, not per connection
        made: Callable[[], Engine] = shared(**options)
        return made

    def factory() -> Engine:
        return create_engine(name, **options)

    return factory


async def _serve(
    factory: Callable[[], Engine],
    host: str,
    port: int,
    api_key: str | None,
    context: ssl.SSLContext | None,
    name: str,
    ahead: float | None = None,
) -> None:
    from bridge.server import PATHS, bound_port, start_server

    try:
        _, server = await start_server(
            factory, host, port, api_key=api_key, ssl_context=context, ahead=ahead
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    scheme = "wss" if context else "ws"
    path = sorted(PATHS)[0]
    log.info("serving engine %r on %s://%s:%d%s", name, scheme, host, bound_port(server), path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Windows' loop has no signal handlers: Ctrl-C then ends it the default way
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    log.info("serve: stopped")
