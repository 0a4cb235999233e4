"""The REST API: Eclipse Leshan's demo-server routes and JSON, server-sent events, and the
mlaas routes, served by aiohttp in the CoAP server's event loop."""

from .app import ApiServer, build_app
from .auth import TOKEN_FILE, load_token

__all__ = ["TOKEN_FILE", "ApiServer", "build_app", "load_token"]
