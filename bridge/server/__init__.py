"""Serve an in-process engine over the Lyria RealTime wire protocol (see ``lyria_server``)."""

from bridge.server.lyria_server import (
    PATHS,
    LyriaServer,
    bound_port,
    ssl_context,
    start_server,
)

__all__ = ["PATHS", "LyriaServer", "bound_port", "ssl_context", "start_server"]
