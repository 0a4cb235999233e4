"""The REST API: Eclipse Leshan's demo-server routes and JSON, server-sent events, and the
mlaas routes, served by aiohttp in the CoAP server's event loop."""

from .app import ApiServer, build_app
from .auth import load_token

__all__ = ["ApiServer", "build_app", "load_token"]
