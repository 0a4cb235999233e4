"""The REST API: an aiohttp application in the CoAP server's event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..core.registration import uri_host
from . import bootstrap, clients, events, mlaas, objectspecs, security
from .auth import ALWAYS_GUARDED, MLAAS_ROUTES, bearer_matches, is_loopback, load_token
from .dashboard import dashboard_routes, is_page
from .errors import ApiError, http_error
from .keys import SERVICE, STREAMS_CLOSING, TOKEN, Services
from .openapi import openapi_routes
from .peers import PEERS, Peers

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 64 << 20
"""Largest request body: imported models."""


def build_app(service: Services, *, token: str, open_reads: bool,
              leshan_open: bool = False) -> web.Application:  # fmt: skip
    """Leshan's demo-server routes, the event stream and the mlaas routes. On a node of
    several, a request for a device registered on another node is forwarded to that node.

    `open_reads`: Leshan's read routes (clients, reads, discover, events, object specs)
    answer without the token. `leshan_open`: every Leshan route does, writes included."""

    @web.middleware
    async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return http_error(request, exc)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in READ_METHODS and is_page(request.path):
            guarded = False  # (the dashboard's pages: they hold no data)
        elif leshan_open:
            guarded = request.path.startswith(MLAAS_ROUTES)
        else:
            guarded = (request.method not in READ_METHODS or not open_reads
                       or request.path.startswith(ALWAYS_GUARDED))  # fmt: skip
        if guarded and not bearer_matches(request.headers.get("Authorization"), token):
            raise ApiError(401, "Unauthorized: this route needs the bearer token "
                                "(Authorization: Bearer <token>, from the data dir's api-token)")
        return await handler(request)

    peers = Peers(service)

    @web.middleware
    async def forward_to_owner(request: web.Request, handler: Handler) -> web.StreamResponse:
        """A request for a device registered on another live node is carried out there."""
        owner = await peers.owner(request)
        return await handler(request) if owner is None else await peers.forward(request, owner)

    app = web.Application(middlewares=[answer_errors, authenticate, forward_to_owner],
                          client_max_size=MAX_BODY)  # fmt: skip
    app[SERVICE] = service
    app[TOKEN] = token
    app[PEERS] = peers
    app.cleanup_ctx.append(peers.session)
    app[STREAMS_CLOSING] = asyncio.Event()
    for module in (clients, events, security, bootstrap, objectspecs, mlaas):
        app.add_routes(module.routes)
    app.add_routes(openapi_routes())
    app.add_routes(dashboard_routes())

    async def close_streams(app: web.Application) -> None:
        app[STREAMS_CLOSING].set()

    app.on_shutdown.append(close_streams)
    return app


class ApiServer:
    """Runs the application on config.http_host:http_port beside the CoAP server."""

    def __init__(self, service: Services) -> None:
        config = service.config
        self.host = config.http_host
        self.token = load_token(config.data_dir)
        self.open_reads = config.open_reads and is_loopback(config.http_host)
        if config.leshan_open and not is_loopback(config.http_host):
            raise ValueError(f"interop mode (leshan_open) answers Leshan's routes without a "
                             f"token: bind the REST API to loopback, not {config.http_host}")
        self.leshan_open = config.leshan_open
        self.app = build_app(service, token=self.token, open_reads=self.open_reads,
                             leshan_open=self.leshan_open)  # fmt: skip
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        self._port = config.http_port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        log.info("REST API on %s (Leshan %s)", self.url,
                 "routes open: interop mode" if self.leshan_open
                 else "reads open" if self.open_reads else "reads need the token")  # fmt: skip

    async def stop(self) -> None:
        await self._runner.cleanup()

    @property
    def port(self) -> int:
        for address in self._runner.addresses:
            return int(address[1])
        raise RuntimeError("REST API not started")

    @property
    def url(self) -> str:
        return f"http://{uri_host(self.host)}:{self.port}"
