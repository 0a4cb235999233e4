"""GET /api/event: the server's events as server-sent events (Leshan's EventServlet)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from ..server import Event
from .keys import SERVICE, STREAMS_CLOSING
from .leshan import sse_event

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
    SLEEPING and PROVISIONING; `?ep=` keeps one endpoint's events."""
    server = request.app[SERVICE].server
    endpoint = request.query.get("ep")
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(BACKLOG)
    overflow = asyncio.Event()

    def on_event(event: Event) -> None:
        if endpoint is not None and event.registration.endpoint != endpoint:
            return
        shaped = sse_event(event, server.sender.is_awake)
        if shaped is None or overflow.is_set():
            return
        name, data = shaped
        try:
            queue.put_nowait((name, json.dumps(data, separators=(",", ":"))))
        except asyncio.QueueFull:
            overflow.set()

    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})  # fmt: skip
    await response.prepare(request)
    closing: asyncio.Event = request.app[STREAMS_CLOSING]
    idle = 0.0
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


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
