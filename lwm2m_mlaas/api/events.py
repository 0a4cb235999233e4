"""GET /api/event: the server's events as server-sent events (Leshan's EventServlet), those
of every live node of the service merged in."""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from ..server import Event
from .keys import SERVICE, STREAMS_CLOSING
from .leshan import sse_event
from .peers import PEERS

BACKLOG = 1024
"""Events buffered per stream; a client that falls this far behind is disconnected."""
HEARTBEAT = 5.0
"""Seconds between comment lines that keep proxies from closing an idle stream."""
POLL = 1.0
"""Seconds between checks that the client is still connected."""

routes = web.RouteTableDef()


@routes.get("/api/event")
async def event_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events REGISTRATION, UPDATED, DEREGISTRATION, NOTIFICATION, AWAKE,
    SLEEPING and PROVISIONING; `?ep=<endpoint>` (or Zephyr's `?<endpoint>`) keeps one
    endpoint's events. On a node of several, the
    events of every live node; `?local` keeps this node's own."""
    server = request.app[SERVICE].server
    endpoint = request.query.get("ep") or _bare_endpoint(request)
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(BACKLOG)
    overflow = asyncio.Event()

    def put(name: str, data: str) -> None:
        if overflow.is_set():
            return
        try:
            queue.put_nowait((name, data))
        except asyncio.QueueFull:
            overflow.set()

    def on_event(event: Event) -> None:
        if endpoint is not None and event.registration.endpoint != endpoint:
            return
        shaped = sse_event(event, server.sender.is_awake)
        if shaped is not None:
            put(shaped[0], json.dumps(shaped[1], separators=(",", ":")))

    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})  # fmt: skip
    await response.prepare(request)
    closing: asyncio.Event = request.app[STREAMS_CLOSING]
    others: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
    if "local" not in request.query:
        others = request.app[PEERS].following({} if endpoint is None else {"ep": endpoint}, put)
    idle = 0.0
    async with others:
        with server.events.listening(on_event), contextlib.suppress(ConnectionError):
            await response.write(b": connected\n\n")
            while not (closing.is_set() or overflow.is_set() or _gone(request)):
                try:
                    name, data = await asyncio.wait_for(queue.get(), POLL)
                except TimeoutError:
                    idle += POLL
                    if idle >= HEARTBEAT:
                        idle = 0.0
                        await response.write(b": keep-alive\n\n")
                    continue
                idle = 0.0
                await response.write(f"event: {name}\ndata: {data}\n\n".encode())
    return response


def _bare_endpoint(request: web.Request) -> str | None:
    """The `?<endpoint>` form Zephyr's Leshan client sends: one name with no value."""
    bare = [k for k, v in request.query.items() if not v and k not in ("ep", "local")]
    return bare[0] if len(bare) == 1 else None


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
